"""The caregiver's side: the patients I follow, a patient's page with the blocks my
permissions allow (BR-017), their reports, and how I am related to each (BR-030)."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("care", __name__)


@bp.get("/following")
@login_required
def following():
    """Patients I follow (stub, replaced by the caregiver-side work)."""
    return "", 204
