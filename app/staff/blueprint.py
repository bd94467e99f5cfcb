"""The staff blueprint, /staff, and what its route modules (views, queue_views,
action_views) share. Every route is guarded once, here, before it runs: an anonymous
visitor is sent to the login page, a signed-in non-staff user gets 403 with no data.
Route modules import it; nothing imports them but create_app."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.accounts.mfa import is_enrolled, mfa_check
from app.billing.names import plan_name
from app.errors import DomainError
from app.extensions import db
from app.forms import copy_errors
from app.htmx import see_other
from app.pages import run_service
from app.staff.delivery_errors import delivery_error
from app.staff.services import staff_check

bp = Blueprint("staff", __name__, url_prefix="/staff")


LABELS = {
    "group": {"active": _l("Active"), "inactive": _l("Inactive"), "dissolved": _l("Dissolved")},
    "invite": {"pending": _l("Pending"), "accepted": _l("Accepted"),
               "rejected": _l("Rejected"), "cancelled": _l("Cancelled"),
               "expired": _l("Expired")},
    "message": {"pending": _l("Waiting to be sent"), "sent": _l("Sent"),
                "delivered": _l("Delivered"), "failed": _l("Failed"),
                "cancelled": _l("Cancelled")},
    "channel": {"in_app": _l("In the portal"), "sms": _l("SMS"), "email": _l("Email"),
                "push": _l("Push"), "payment": _l("Payment service")},
    "plan": {"active": _l("Active"), "expired": _l("Expired"), "cancelled": _l("Cancelled")},
    "role": {"patient": _l("patient"), "caregiver": _l("caregiver"), "admin": _l("admin")},
    "notification": {
        "INVITE_CREATED": _l("Invite"), "INVITE_ACCEPTED": _l("Invite accepted"),
        "INVITE_REJECTED": _l("Invite declined"), "INVITE_CANCELLED": _l("Invite cancelled"),
        "MEMBER_JOINED": _l("New member"), "MEMBER_REMOVED": _l("Member removed"),
        "MEMBER_LEFT": _l("Member left"), "PERMISSION_ENABLED": _l("Permission turned on"),
        "ACCOUNT_CLAIM": _l("Claim link"), "PHONE_CODE": _l("One-time code"),
        "ACCOUNT_EXISTS": _l("Sign-up with a number that has an account"),
        "PHONE_TAKEN_OVER": _l("Number moved to another account"),
        "CONSENT_WITHDRAWN": _l("Consent withdrawn"),
        "FAMILY_HANDED_OVER": _l("Family handed over")},
}


# The second factor's own pages (app/staff/factor_views.py): open to a staff member who
# has not passed it yet.
FACTOR_ENDPOINTS = frozenset({"staff.factor", "staff.factor_enrol"})


@bp.before_request
def _staff_only():
    """Anonymous → the login page (back here after); non-staff → 403 (the app's error
    page renders the Forbidden); staff whose session has not passed the second factor
    (issue 21) → enrolment, or the code step, then back here."""
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    if not current_user.staff_role:
        staff_check(current_user)
    if current_user.staff_pending and request.endpoint not in FACTOR_ENDPOINTS:
        here = request.full_path.rstrip("?") if request.method == "GET" else None
        step = "staff.factor" if is_enrolled(current_user) else "staff.factor_enrol"
        return see_other(url_for(step, next=here))
    return None


@bp.context_processor
def _helpers() -> dict:
    return {"label": label, "plan_name": plan_name, "delivery_error": delivery_error}


def label(kind: str, code: str | None) -> str:
    """A status, channel or role in the reader's language; unknown codes as they are."""
    return str(LABELS[kind].get(code, code or ""))


def found_or_404(model, object_id: int):
    found = db.session.get(model, object_id)
    if found is None:
        abort(404)
    return found


def fresh_code(form) -> DomainError | None:
    """A staff action is confirmed by a fresh code from the authenticator app (issue 21),
    checked before its service runs: None when it passed, else the refusal, on the form's
    code field (a wrong code's counted try is kept; a passed code is undone with the
    action if the action is then refused, so it can be typed again)."""
    _how, error = run_service(mfa_check, code=form.code.data, purpose="action")
    if error is not None:
        copy_errors(form, error, "code")
        form.refused_status = error.status  # 429 while too many codes failed
    return error
