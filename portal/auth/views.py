"""Logging in and out, forgotten passwords, and accepting an invitation."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from portal.accounts.models import TokenPurpose
from portal.accounts.services import (
    LoginThrottled,
    accept_invitation,
    authenticate,
    complete_login,
    end_sessions,
    find_one_time_token,
    request_password_reset,
    request_unlock,
    reset_password,
    unlock_with_token,
)
from portal.accounts.two_factor_services import is_enabled
from portal.auth.access import current_portal_user, public, signed_in
from portal.auth.forms import ChoosePasswordForm, ForgotPasswordForm, LoginForm, UnlockForm
from portal.auth.second_step import start_second_step
from portal.errors import InvalidInput, NotFound
from portal.transactions import web_transaction

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    # Only same-site paths: an open redirect after login is a phishing tool.
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            # Committed whatever the answer: a failed attempt counts towards the throttle.
            with web_transaction(renders=()):
                user = authenticate(form.email.data or "", form.password.data or "")
        except LoginThrottled as error:
            form.password.errors.append(error.message)
            return render_template("auth/login.html", form=form, locked=True), 429
        if user is None:
            form.password.errors.append("Wrong e-mail or password.")
        elif is_enabled(user):
            # The password is right; the session holds who is half-way in until the code comes.
            start_second_step(user, remember=bool(form.remember.data), next_url=request.args.get("next"))
            return redirect(url_for("two_factor.verify"))
        else:
            with web_transaction(renders=()):
                complete_login(user)
            login_user(user, remember=bool(form.remember.data))
            return redirect(safe_next(request.args.get("next")) or url_for("home.index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
# Only a session can be ended; anyone else is sent to the login page.
@signed_in
def logout() -> Response:
    if current_user.is_authenticated:
        # One version per user: logging out here also ends the user's sessions on other devices.
        with web_transaction(renders=()):
            end_sessions(current_portal_user())
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@public
def forgot_password() -> str | Response:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        with web_transaction(renders=()):
            request_password_reset(form.email.data or "")
        flash("If an account uses that address, we have e-mailed it a link to choose a new password.", "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form)


@bp.route("/login/unlock", methods=["GET", "POST"], endpoint="request_unlock")
@public
def request_unlock_page() -> str | Response:
    form = ForgotPasswordForm()
    if request.method == "GET" and request.args.get("email"):
        form.email.data = request.args["email"]
    if form.validate_on_submit():
        with web_transaction(renders=()):
            request_unlock(form.email.data or "")
        flash(
            "If that address has an account and is locked, we have e-mailed it a link that unlocks it.",
            "info",
        )
        return redirect(url_for("auth.login"))
    return render_template("auth/unlock_request.html", form=form)


# The link only shows a button: mail scanners open links, and opening one must not use it up.
@bp.route("/login/unlock/<token>", methods=["GET", "POST"], endpoint="unlock")
@public
def unlock_page(token: str) -> ResponseReturnValue:
    try:
        one_time = find_one_time_token(token, TokenPurpose.UNLOCK)
    except NotFound as error:
        return render_template("error.html", code=404, title="Link not valid", message=error.message), 404
    form = UnlockForm()
    if form.validate_on_submit():
        with web_transaction(renders=()):
            unlock_with_token(token)
        flash("Your address is unlocked. Log in with your password.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/unlock.html", form=form, user=one_time.user)


def _choose_password(token: str, purpose: TokenPurpose, title: str, done_message: str) -> ResponseReturnValue:
    try:
        one_time = find_one_time_token(token, purpose)
    except NotFound as not_found:
        return render_template("error.html", code=404, title="Link not valid", message=not_found.message), 404
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        action = accept_invitation if purpose is TokenPurpose.INVITATION else reset_password
        with web_transaction(renders=(InvalidInput,)) as attempt:
            user = action(token, form.password.data or "")
        if (error := attempt.error) is not None:
            form.password.errors.append(error.fields.get("password", error.message))
        elif is_enabled(user):
            # A new password is not a way around the second factor: whoever reads the mailbox
            # still needs the app or a recovery code.
            flash(done_message, "success")
            start_second_step(user, remember=False, next_url=None)
            return redirect(url_for("two_factor.verify"))
        else:
            with web_transaction(renders=()):
                complete_login(user)
            login_user(user)
            flash(done_message, "success")
            return redirect(url_for("home.index"))
    return render_template("auth/choose_password.html", form=form, title=title, user=one_time.user)


@bp.route("/password/reset/<token>", methods=["GET", "POST"], endpoint="reset_password")
@public
def reset_password_page(token: str) -> ResponseReturnValue:
    return _choose_password(
        token,
        TokenPurpose.PASSWORD_RESET,
        "Choose a new password",
        "Your password is changed. Other sessions were logged out.",
    )


@bp.route("/invitation/<token>", methods=["GET", "POST"], endpoint="accept_invitation")
@public
def accept_invitation_page(token: str) -> ResponseReturnValue:
    return _choose_password(token, TokenPurpose.INVITATION, "Welcome to Seatmeter", "Your account is ready.")
