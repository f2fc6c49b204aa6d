"""/account/notices: a logged-in person chooses the optional notices they receive."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from portal.auth.access import current_portal_user, signed_in
from portal.notices.forms import PreferencesForm
from portal.notices.models import OPTIONAL_KINDS, NoticeKind
from portal.notices.services import opted_out_kinds, set_preferences
from portal.transactions import web_transaction

bp = Blueprint("notices", __name__)


@bp.route("/account/notices", methods=["GET", "POST"], endpoint="preferences")
@signed_in
def preferences_page() -> ResponseReturnValue:
    user = current_portal_user()
    form = PreferencesForm()
    if form.validate_on_submit():
        wanted = {NoticeKind(value) for value in form.wanted.data or [] if value in OPTIONAL_KINDS}
        with web_transaction(renders=()):
            set_preferences(user, wanted)
        flash("Your notice settings are saved.", "success")
        return redirect(url_for("notices.preferences"))
    if not form.is_submitted():
        off = opted_out_kinds(user)
        form.wanted.data = [kind.value for kind in OPTIONAL_KINDS if kind not in off]
    return render_template("notices/preferences.html", form=form), 422 if form.errors else 200
