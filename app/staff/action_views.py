"""Staff actions: suspend and reactivate an account, resend a failed notification,
issue activation codes. Each asks for a reason, kept in the audit trail."""

from __future__ import annotations

from app.staff.views import bp


@bp.route("/codes", methods=["GET", "POST"])
def codes():
    """Issue activation codes (stub)."""
    return "codes"
