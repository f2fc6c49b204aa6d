"""Form validators: e-mail addresses for mail, user principal names for signing in."""

from __future__ import annotations

import pytest
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import StringField

from portal.web.validators import EmailAddress, UserPrincipalName


class _Form(FlaskForm):
    class Meta:
        csrf = False

    email = StringField(validators=[EmailAddress()])
    upn = StringField(validators=[UserPrincipalName()])


def _errors(app, field: str, value: str) -> list[str]:
    with app.test_request_context():
        form = _Form(formdata=MultiDict({field: value}))
        form.validate()
        return list(getattr(form, field).errors)


@pytest.mark.parametrize(
    "value",
    [
        "alice@acme.com",
        "alice@corp.local",
        "a.b+c@ad.lan",
        "alice@CORP",
        "alice@acme.test",
        "x@a-b.c-d.example",
    ],
)
def test_user_principal_names_on_internal_domains_are_accepted(app, value):
    assert _errors(app, "upn", value) == []


@pytest.mark.parametrize(
    "value",
    [
        "alice",
        "@corp.local",
        "alice@",
        "a b@corp.local",
        "alice@corp..local",
        "alice@-corp.local",
        "alice@corp.local.",
        "alice@corp_local",
        "alice@" + "a" * 64 + ".local",
        "ä@corp.local",
    ],
)
def test_malformed_user_principal_names_are_refused(app, value):
    assert _errors(app, "upn", value) != []


def test_mail_addresses_still_refuse_special_use_domains(app):
    # Mail to .local never arrives: invitations and logins keep the stricter rule on purpose.
    assert _errors(app, "email", "alice@corp.local") != []
    assert _errors(app, "email", "alice@acme.example") == []
