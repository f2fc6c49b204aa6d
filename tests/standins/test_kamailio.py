"""The Kamailio stand-in behaves like the colo PBX the product provisions seats on."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time

import pytest

from sandbox import sip_client
from tests.standins.kamailio import Kamailio, find_binary, sipp_register

pytestmark = pytest.mark.slow

needs_sipp = pytest.mark.skipif(
    find_binary("sipp") is None and not os.environ.get("SEATMETER_REQUIRE_STANDINS"),
    reason="sipp (Debian sip-tester) not installed",
)


def register(k: Kamailio, username: str, password: str, domain: str | None = None) -> int:
    return sip_client.register(k.host, k.port, username, domain or k.domain, password)


def test_answers_options(kamailio):
    assert sip_client.options(kamailio.host, kamailio.port) == 200


def test_subscriber_written_through_db_url_registers_at_once(clean_kamailio, tmp_path):
    sqlalchemy = pytest.importorskip("sqlalchemy")
    k = clean_kamailio
    # The product's path: plain SQL through an SQLAlchemy engine on db_url, while Kamailio runs.
    engine = sqlalchemy.create_engine(k.db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sqlalchemy.text("INSERT INTO subscriber (username, domain, password) VALUES (:u, :d, :p)"),
                {"u": "1001", "d": k.domain, "p": "s3cret-1001"},
            )
    finally:
        engine.dispose()
    assert register(k, "1001", "s3cret-1001") == 200
    if find_binary("sipp"):
        assert sipp_register(k.host, k.port, "1001", k.domain, "s3cret-1001", workdir=tmp_path)


def test_unregister(clean_kamailio):
    k = clean_kamailio
    k.add_subscriber("1002", "pw-1002")
    assert register(k, "1002", "pw-1002") == 200
    assert sip_client.unregister(k.host, k.port, "1002", k.domain, "pw-1002") == 200


def test_wrong_password_gets_no_200(clean_kamailio):
    k = clean_kamailio
    k.add_subscriber("1003", "right")
    # Kamailio challenges a wrong answer again, so the final answer is a second 401.
    assert register(k, "1003", "wrong") == 401


@needs_sipp
def test_sipp_wrong_password_fails(clean_kamailio, tmp_path):
    k = clean_kamailio
    k.add_subscriber("1004", "right")
    assert sipp_register(k.host, k.port, "1004", k.domain, "right", workdir=tmp_path)
    assert not sipp_register(k.host, k.port, "1004", k.domain, "wrong", workdir=tmp_path)


def test_deleted_subscriber_can_no_longer_register(clean_kamailio, tmp_path):
    k = clean_kamailio
    k.add_subscriber("1005", "pw-1005")
    assert register(k, "1005", "pw-1005") == 200
    assert k.delete_subscriber("1005") == 1
    assert register(k, "1005", "pw-1005") == 401
    if find_binary("sipp"):
        assert not sipp_register(k.host, k.port, "1005", k.domain, "pw-1005", workdir=tmp_path)
    # Re-provisioning (resuming the seat) is just the row again.
    k.add_subscriber("1005", "pw-1005")
    assert register(k, "1005", "pw-1005") == 200


def test_changed_password_takes_effect_at_once(clean_kamailio):
    k = clean_kamailio
    k.add_subscriber("1006", "old")
    with contextlib.closing(sqlite3.connect(k.db_path)) as con, con:
        con.execute("UPDATE subscriber SET password = 'new' WHERE username = '1006'")
    assert register(k, "1006", "old") == 401
    assert register(k, "1006", "new") == 200


def test_blank_password_is_not_a_way_to_suspend(clean_kamailio):
    # Characterises a Kamailio hazard: with calculate_ha1=1 an empty password column means
    # "the password is empty", not "no access". The product must delete the row instead.
    k = clean_kamailio
    k.add_subscriber("1007", "")
    assert register(k, "1007", "") == 200


def test_same_extension_in_two_domains_is_independent(clean_kamailio, tmp_path):
    k = clean_kamailio
    k.add_subscriber("100", "alpha-pw", domain="alpha.test")
    k.add_subscriber("100", "beta-pw", domain="beta.test")
    assert register(k, "100", "alpha-pw", "alpha.test") == 200
    assert register(k, "100", "beta-pw", "beta.test") == 200
    assert register(k, "100", "beta-pw", "alpha.test") == 401
    assert register(k, "100", "alpha-pw", "beta.test") == 401
    assert k.delete_subscriber("100", domain="alpha.test") == 1
    assert register(k, "100", "alpha-pw", "alpha.test") == 401
    assert register(k, "100", "beta-pw", "beta.test") == 200
    if find_binary("sipp"):
        assert sipp_register(k.host, k.port, "100", "beta.test", "beta-pw", workdir=tmp_path)
        assert not sipp_register(k.host, k.port, "100", "alpha.test", "alpha-pw", workdir=tmp_path)


def test_concurrent_writer_does_not_break_registration(clean_kamailio):
    # In rollback-journal mode most of these REGISTERs got 401 ("database is locked"); the
    # fixture's WAL database must keep them all at 200 while another process keeps writing.
    k = clean_kamailio
    k.add_subscriber("1008", "pw-1008")
    stop = threading.Event()
    writes = 0

    def writer() -> None:
        nonlocal writes
        con = sqlite3.connect(k.db_path, timeout=5.0)
        try:
            while not stop.is_set():
                with con:
                    con.execute(
                        "INSERT INTO subscriber (username, domain, password) VALUES ('x', 'w.test', 'p')"
                    )
                    con.execute("DELETE FROM subscriber WHERE domain = 'w.test'")
                writes += 1
        finally:
            con.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        codes = [register(k, "1008", "pw-1008") for _ in range(40) if time.monotonic() < deadline]
    finally:
        stop.set()
        thread.join()
    assert writes > 0
    assert set(codes) == {200}


def test_digest_matches_rfc2617_example():
    challenge = sip_client.parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    header = sip_client.digest_response(
        challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b"
    )
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert "qop=auth," in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header


def test_digest_without_qop_uses_rfc2069_form():
    challenge = sip_client.parse_challenge('Digest realm="r", nonce="n", algorithm=MD5')
    header = sip_client.digest_response(challenge, "REGISTER", "sip:r", "u", "p", cnonce="c")
    ha1 = sip_client._md5("u:r:p")
    ha2 = sip_client._md5("REGISTER:sip:r")
    assert f'response="{sip_client._md5(f"{ha1}:n:{ha2}")}"' in header
    assert "qop" not in header
    assert "cnonce" not in header


def test_no_server_fails_fast():
    # Readiness polling relies on this: nothing listening must fail at once (ICMP port unreachable),
    # not after the full timeout.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        sip_client.options("127.0.0.1", port, timeout=2.0)
    assert time.monotonic() - started < 1.0
