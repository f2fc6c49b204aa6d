"""Two-step login pages: the code at login, and setting it up, replacing codes, turning it off."""

from __future__ import annotations

import segno
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user
from markupsafe import Markup

from portal.accounts.services import LoginThrottled, complete_login
from portal.accounts.two_factor_services import (
    begin_setup,
    confirm_setup,
    is_enabled,
    new_recovery_codes,
    pending_secret,
    required_for,
    setup_uri,
    turn_off,
    verify_second_factor,
)
from portal.auth.access import current_portal_user, public, signed_in
from portal.auth.forms import ConfirmSetupForm, PasswordConfirmForm, SecondStepForm, StartSetupForm
from portal.auth.second_step import end_second_step, waiting_user
from portal.auth.views import safe_next
from portal.errors import Conflict, InvalidInput
from portal.transactions import web_transaction

bp = Blueprint("two_factor", __name__)

# Pages a user whose role requires a second factor may still open before setting it up.
_OPEN_BEFORE_SETUP = {"two_factor.manage", "two_factor.start", "two_factor.confirm", "auth.logout", "static"}


@bp.route("/login/code", methods=["GET", "POST"], endpoint="verify")
@public
def verify_page() -> ResponseReturnValue:
    waiting = waiting_user()
    if waiting is None:
        end_second_step()
        flash("Log in again: the time for the code ran out.", "info")
        return redirect(url_for("auth.login"))
    user, remember, next_url = waiting
    form = SecondStepForm()
    if form.validate_on_submit():
        try:
            # Committed either way: a wrong code counts towards the address's throttle.
            with web_transaction(renders=()):
                accepted = verify_second_factor(user, form.code.data or "")
                if accepted:
                    complete_login(user)
        except LoginThrottled as error:
            end_second_step()
            form.code.errors.append(error.message)
            return render_template("auth/second_step.html", form=form, locked=True), 429
        if accepted:
            end_second_step()
            login_user(user, remember=remember)
            return redirect(safe_next(next_url) or url_for("home.index"))
        form.code.errors.append("That code is not right. Type the code your app shows now.")
        return render_template("auth/second_step.html", form=form), 422
    return render_template("auth/second_step.html", form=form)


@bp.route("/account/two-step", methods=["GET"], endpoint="manage")
@signed_in
def manage_page() -> ResponseReturnValue:
    user = current_portal_user()
    secret = pending_secret(user) if not is_enabled(user) else None
    return render_template(
        "auth/two_step.html",
        enabled=is_enabled(user),
        required=required_for(user),
        secret=secret,
        qr=_qr_svg(setup_uri(user, secret)) if secret else None,
        start_form=StartSetupForm(),
        confirm_form=ConfirmSetupForm(),
        password_form=PasswordConfirmForm(),
    )


@bp.route("/account/two-step/start", methods=["POST"], endpoint="start")
@signed_in
def start_setup() -> ResponseReturnValue:
    if StartSetupForm().validate_on_submit():
        with web_transaction(renders=(Conflict,)) as attempt:
            begin_setup(current_portal_user())
        if attempt.error is not None:
            flash(attempt.error.message, "error")
    return redirect(url_for("two_factor.manage"))


@bp.route("/account/two-step/confirm", methods=["POST"], endpoint="confirm")
@signed_in
def confirm_page() -> ResponseReturnValue:
    form = ConfirmSetupForm()
    user = current_portal_user()
    if form.validate_on_submit():
        with web_transaction(renders=(InvalidInput,)) as attempt:
            codes = confirm_setup(user, form.code.data or "")
        if attempt.error is None:
            return render_template("auth/recovery_codes.html", codes=codes, first=True)
        form.code.errors.append(attempt.error.fields.get("code", attempt.error.message))
    secret = pending_secret(user)
    page = render_template(
        "auth/two_step.html",
        enabled=False,
        required=required_for(user),
        secret=secret,
        qr=_qr_svg(setup_uri(user, secret)) if secret else None,
        start_form=StartSetupForm(),
        confirm_form=form,
        password_form=PasswordConfirmForm(),
    )
    return page, 422


@bp.route("/account/two-step/recovery-codes", methods=["POST"], endpoint="recovery_codes")
@signed_in
def recovery_codes_page() -> ResponseReturnValue:
    form = PasswordConfirmForm()
    if form.validate_on_submit():
        with web_transaction(renders=(InvalidInput, Conflict)) as attempt:
            codes = new_recovery_codes(current_portal_user(), form.password.data or "")
        if attempt.error is None:
            return render_template("auth/recovery_codes.html", codes=codes, first=False)
        flash(attempt.error.message, "error")
    else:
        flash("Type your password to get new recovery codes.", "error")
    return redirect(url_for("two_factor.manage"))


@bp.route("/account/two-step/off", methods=["POST"], endpoint="turn_off")
@signed_in
def turn_off_page() -> ResponseReturnValue:
    form = PasswordConfirmForm()
    if form.validate_on_submit():
        with web_transaction(renders=(InvalidInput, Conflict)) as attempt:
            turn_off(current_portal_user(), form.password.data or "")
        if attempt.error is None:
            flash("Two-step login is off. Your password alone logs you in now.", "success")
        else:
            flash(attempt.error.message, "error")
    else:
        flash("Type your password to turn two-step login off.", "error")
    return redirect(url_for("two_factor.manage"))


@bp.before_app_request
def _require_second_factor() -> ResponseReturnValue | None:
    # API requests carry tokens, not sessions: they are not asked for codes.
    if request.blueprint == "api" or not current_user.is_authenticated:
        return None
    if request.endpoint in _OPEN_BEFORE_SETUP:
        return None
    user = current_portal_user()
    if required_for(user) and not is_enabled(user):
        flash("Your account needs two-step login. Set it up to continue: it takes a minute.", "info")
        return redirect(url_for("two_factor.manage"))
    return None


def _qr_svg(uri: str) -> Markup:
    # An inline SVG (no inline style, no script): the Content-Security-Policy allows it.
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, light="#fff", title="QR code for your authenticator app"
    )
    return Markup(svg)  # nosec B704  # segno's SVG of a URI we made; no user text in it (segno's own markup around a URI it encodes)
