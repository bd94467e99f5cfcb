"""A NUL character in a form's text is refused with the field's message (422), never
stored and never a 500: PostgreSQL's text columns cannot hold it."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models.accounts import User
from app.models.groups import FamilyGroup
from tests.factories import PASSWORD, make_subscription, make_user
from tests.pages import csrf_from

NOT_ALLOWED = "Văn bản này chứa ký tự không được phép."


def test_registration_refuses_a_nul_in_the_name(app, client):
    token = csrf_from(client.get("/account/register").get_data(as_text=True))
    response = client.post("/account/register", data={
        "phone": "0912345001", "name": "An\x00", "gender": "0", "password": PASSWORD,
        "csrf_token": token})
    assert response.status_code == 422
    assert NOT_ALLOWED in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_a_family_name_with_a_nul_is_refused(app, login):
    with app.app_context():
        admin = make_user()
        make_subscription(admin)
        db.session.commit()
        phone = admin.phone
    client = login(type("Who", (), {"phone": phone}))
    token = csrf_from(client.get("/family").get_data(as_text=True))
    response = client.post("/family", data={"name": "Nhà\x00An", "csrf_token": token})
    assert response.status_code == 422
    assert NOT_ALLOWED in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FamilyGroup)) == 0
