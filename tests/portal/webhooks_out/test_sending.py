"""Where webhooks may go: only http(s), and no loopback, link-local or private address unless allowed."""

from __future__ import annotations

import pytest

from portal.errors import InvalidInput
from portal.webhooks_out.sending import check_url, is_public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://[::1]/hooks",
        "http://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "http://172.16.5.5/hooks",
        "http://169.254.169.254/latest/meta-data",  # the cloud's metadata service
        "http://100.64.0.1/hooks",  # carrier-grade NAT
        "http://0.0.0.0/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://[fe80::1]/hooks",
    ],
)
def test_loopback_link_local_and_private_targets_are_refused_unless_allowed(url):
    with pytest.raises(InvalidInput, match="private address") as refusal:
        check_url(url, allow_private=False)
    assert "allow private targets" in refusal.value.fields["url"]
    target = check_url(url, allow_private=True)
    assert not is_public(target.address)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://93.184.215.14/hooks", "must start with https://"),
        ("file:///etc/passwd", "must start with https://"),
        ("javascript:alert(1)", "must start with https://"),
        ("https:///hooks", "no host name"),
        ("https://user:pw@93.184.215.14/hooks", "user name and password"),
        ("https://93.184.215.14:99999/hooks", "not a valid URL"),
        ("https://no-such-host.invalid/hooks", "could not be found"),
    ],
)
def test_a_url_that_is_not_an_http_address_is_refused_in_plain_words(url, says):
    with pytest.raises(InvalidInput, match=says):
        check_url(url, allow_private=True)


def test_a_public_address_is_accepted_and_the_request_goes_to_the_address_checked():
    target = check_url("https://93.184.215.14:8443/hooks?source=seatmeter", allow_private=False)
    assert target.address == "93.184.215.14"
    assert (target.scheme, target.port, target.path) == ("https", 8443, "/hooks?source=seatmeter")
    assert target.host_header == "93.184.215.14:8443"
