"""POST /api/v1/me/deletion (app/api/routes_deletion.py, issue 19, item 4): 204 and the
token is dead; every refusal code of the contract. Every answer is checked against the
OpenAPI document (tests/api/__init__.py)."""

from __future__ import annotations

from sqlalchemy import select

from app.accounts.identity import confirm_code_send
from app.extensions import db
from app.models.accounts import PhoneCode, User
from app.models.groups import FamilyGroupMember
from tests.api import count, family, person, refused, scalar
from tests.factories import PASSWORD, make_user


def is_deleted(app, user_id: int) -> bool:
    with app.app_context():
        return db.session.get(User, user_id).is_deleted


def test_deletion_answers_204_and_the_token_stops_working(app, client):
    admin = person(app, client)
    user = person(app, client)
    family(app, admin, members=[(user, "caregiver")])
    response = user.api.post("/me/deletion", json={"password": PASSWORD})
    assert response.status_code == 204
    assert response.get_data() == b""
    assert is_deleted(app, user.id)
    assert count(app, FamilyGroupMember, FamilyGroupMember.user_id == user.id) == 0
    refused(user.api.get("/me"), 401, "unauthorized")
    refused(user.api.post("/me/deletion", json={"password": PASSWORD}), 401, "unauthorized")


def test_an_admin_is_refused_until_the_family_is_handed_over(app, client):
    admin = person(app, client)
    family(app, admin)
    error = refused(admin.api.post("/me/deletion", json={"password": PASSWORD}), 409,
                    "admin_must_hand_over")
    assert "chuyển giao gia đình" in error["message"]  # the user's language: vi
    assert not is_deleted(app, admin.id)


def test_a_staff_account_is_refused(app, client):
    staff = person(app, client, is_staff=True)
    refused(staff.api.post("/me/deletion", json={"password": PASSWORD}), 403, "staff_account")
    assert not is_deleted(app, staff.id)


def test_a_wrong_password_is_422_and_nothing_changes(app, client):
    user = person(app, client)
    refused(user.api.post("/me/deletion", json={"password": "nope"}), 422, "bad_password")
    refused(user.api.post("/me/deletion", json={}), 422, "confirmation_required")
    assert not is_deleted(app, user.id)
    assert user.api.get("/me").status_code == 200


def test_a_wrong_code_is_422_and_counted(app, client):
    user = person(app, client)
    with app.app_context():
        confirm_code_send(actor=db.session.get(User, user.id))
        db.session.commit()
    refused(user.api.post("/me/deletion", json={"code": "000000"}), 422, "invalid_code")
    assert not is_deleted(app, user.id)
    assert scalar(app, select(PhoneCode.attempts).where(PhoneCode.user_id == user.id)) == 1


def test_the_number_is_free_afterwards(app, client):
    user = person(app, client)
    assert user.api.post("/me/deletion", json={"password": PASSWORD}).status_code == 204
    with app.app_context():
        again = make_user(phone=user.phone)
        db.session.commit()
        assert again.id != user.id


def test_staff_read_the_tombstone_as_deleted_user_with_no_personal_field(app, client):
    """A deleted account in the API reads "deleted user #id", as on the pages, with no
    phone, email or gender left (staff see phones and emails of everyone else)."""
    staff = person(app, client, is_staff=True)
    user = person(app, client)
    assert user.api.post("/me/deletion", json={"password": PASSWORD}).status_code == 204
    answer = staff.api.get(f"/users/{user.id}")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["name"] == f"người dùng đã xóa #{user.id}"
    assert (body["phone"], body["email"], body["gender"]) == (None, None, None)
