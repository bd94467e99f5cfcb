"""Ids and whole numbers are ASCII digits (issue 15, F12).

werkzeug's `<int:…>` matched `\\d+`, which is any script's decimal digits, and Python's
int() reads them: /api/v1/families/١ was family 1. Every id or number the portal reads
from a path, a query argument, a form field or the session is 0-9 only; anything else is
a 404 (paths) or a 422 (arguments and fields), never a match and never a 500.
"""

from __future__ import annotations

import base64

import pytest

from app.accounts.services import user_from_session_id
from app.extensions import db
from app.models.notifications import InviteNotification
from tests.pages import ReasonGiving, csrf_of
from tests.security.conftest import as_who

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EXTENDED_ARABIC = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
SCRIPTS = {"arabic-indic": ARABIC_INDIC, "extended-arabic": EXTENDED_ARABIC,
           "fullwidth": FULLWIDTH}


def written(number: int, script: str) -> str:
    return str(number).translate(SCRIPTS[script])


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_id_in_other_digits_matches_nothing_in_the_api(app, world, script):
    bearer = {"Authorization": f"Bearer {world.api_tokens['admin']}"}
    client = app.test_client()
    assert client.get(f"/api/v1/families/{world.group_id}", headers=bearer).status_code == 200
    for path in (f"/api/v1/families/{written(world.group_id, script)}",
                 f"/api/v1/users/{written(world.users['admin'], script)}",
                 f"/api/v1/families/{world.group_id}/invites".replace(
                     str(world.group_id), written(world.group_id, script))):
        response = client.get(path, headers=bearer)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_id_in_other_digits_matches_no_page(app, world, script):
    admin = as_who(app, world, "admin")
    assert admin.get(f"/family/{world.group_id}").status_code == 200
    assert admin.get(f"/family/{written(world.group_id, script)}").status_code == 404
    # a POST route too: 404, not a 405 from a rule of the same shape for another method
    assert admin.post(f"/family/{written(world.group_id, script)}/rename", data={
        "name": "X", "csrf_token": csrf_of(admin)}).status_code == 404


def test_a_superscript_digit_is_no_id(app, world):
    """'²'.isdigit() is true and int('²') fails: it must be a 404, not a 500."""
    bearer = {"Authorization": f"Bearer {world.api_tokens['admin']}"}
    assert app.test_client().get("/api/v1/families/²", headers=bearer).status_code == 404
    assert as_who(app, world, "admin").get("/family/²").status_code == 404


@pytest.mark.parametrize("raw", ["١٠", "１０", "²", "1_0", " 10", "+10", "-1"])
def test_query_numbers_are_ascii_digits(app, world, raw):
    bearer = {"Authorization": f"Bearer {world.api_tokens['staff']}"}
    client = app.test_client()
    assert client.get("/api/v1/families?limit=10", headers=bearer).status_code == 200
    response = client.get("/api/v1/families", query_string={"limit": raw}, headers=bearer)
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["limit"]
    cursor = base64.urlsafe_b64encode(f"id:{raw}".encode()).decode().rstrip("=")
    response = client.get("/api/v1/families", query_string={"cursor": cursor}, headers=bearer)
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["cursor"]
    staff = ReasonGiving(as_who(app, world, "staff"))
    english(staff)
    page = staff.get(f"/staff/groups/{world.group_id}", query_string={"audit_before": raw})
    assert page.status_code == 422
    assert "This page link is not valid" in page.get_data(as_text=True)


def english(client):
    assert client.post("/language", data={"locale": "en", "csrf_token": csrf_of(client)}
                       ).status_code == 303


@pytest.mark.parametrize("raw", ["٣٠", "３０", "۳۰", "²"])
def test_form_numbers_are_ascii_digits(app, world, raw):
    """The staff's activation codes: days of "٣٠" used to issue codes for 30 days."""
    staff = as_who(app, world, "staff")
    english(staff)
    data = {"plan": "family", "days": raw, "count": "1", "reason": "Khuyến mãi",
            "csrf_token": csrf_of(staff)}
    response = staff.post("/staff/codes", data=data)
    assert response.status_code == 422
    assert "Enter a whole number from 1 to 3660." in response.get_data(as_text=True)
    response = staff.post("/staff/codes", data={**data, "days": "30", "count": raw})
    assert response.status_code == 422
    assert "Enter a whole number from 1 to 1000." in response.get_data(as_text=True)


@pytest.mark.parametrize("raw", ["١", "１", "²", "-1", "x"])
def test_marking_notifications_read_takes_an_ascii_id_only(app, world, raw):
    """up_to="١" marked read up to notification 1; now it is refused and marks nothing."""
    invitee = as_who(app, world, "invitee")

    def unread() -> int:
        with app.app_context():
            count = db.session.query(InviteNotification).filter_by(
                recipient_user_id=world.users["invitee"], channel="in_app",
                status="sent").count()
            db.session.remove()
            return count

    before = unread()
    assert before > 0  # the invite, in the portal
    response = invitee.post("/notifications/read", data={"up_to": raw,
                                                         "csrf_token": csrf_of(invitee)})
    assert response.status_code == 422
    assert unread() == before


@pytest.mark.parametrize("session_id", ["²:0", "1:²", "١:0", "1:١", "１:0", "1_0:0"])
def test_a_session_id_in_other_digits_is_no_user(app, world, session_id):
    with app.app_context():
        assert user_from_session_id(session_id) is None
        db.session.remove()
