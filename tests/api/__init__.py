"""Helpers for the API tests: a JSON client with a bearer token, and committed rows.

Each helper opens its own app context and hands back plain values (ids, tokens), never
ORM objects, so no test holds an app context while it makes requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from app.accounts.services import api_token_create
from app.db import utcnow
from app.extensions import db
from app.invites.services import invite_create
from app.models.accounts import User
from app.models.groups import FamilyGroup
from app.models.invites import ConnectionInvite
from tests.api.contract import check_answer
from tests.factories import (
    authenticator_code,
    make_group,
    make_member,
    make_subscription,
    make_user,
)

PREFIX = "/api/v1"


# What staff read of a family or a person with a reason (issue 21): app/api/access.py.
STAFF_READ = re.compile(r"^/(families/\d+(/(connections|audit|invites))?|users/\d+(/families)?)"
                        r"(\?|$)")
# The staff actions a fresh authenticator code confirms (issue 21).
FRESH_CODE = re.compile(r"/staff/(users/\d+/(suspend|reactivate)|notifications/\d+/resend|codes)$")


class Api:
    """The test client speaking JSON to /api/v1, with a bearer token when given. Every
    answer is checked against the OpenAPI document (tests/api/contract.py). A staff
    member's Api (user_id given) confirms each staff action with a fresh code of the test
    authenticator unless the body brings its own `totp`."""

    def __init__(self, client, token: str | None = None, user_id: int | None = None):
        self.client = client
        self.token = token
        self.user_id = user_id

    def call(self, method: str, path: str, json=None, headers=None, **kwargs):
        if (self.user_id is not None and FRESH_CODE.search(path) and "data" not in kwargs
                and (json is None or (isinstance(json, dict) and "totp" not in json))):
            with self.client.application.app_context():
                json = {**(json or {}), "totp": authenticator_code(self.user_id)}
        if (self.user_id is not None and method == "GET" and STAFF_READ.search(path)
                and "reason=" not in path):
            # A staff read names why (issue 21); the tests of that rule call without it.
            path += ("&" if "?" in path else "?") + "reason=support"
        sent = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        sent.update(headers or {})
        if json is not None:
            kwargs["json"] = json
        response = self.client.open(PREFIX + path, method=method, headers=sent, **kwargs)
        check_answer(self.client.application, method, PREFIX + path, response)
        return response

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.call("POST", path, json=json, **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.call("PATCH", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("DELETE", path, **kwargs)


@dataclass
class Person:
    id: int
    phone: str
    api: Api


def person(app, client, **fields) -> Person:
    """A committed user with an API token (for staff, one issued with a TOTP code, as
    POST /auth/token with totp gives)."""
    with app.app_context():
        user = make_user(**fields)
        token = api_token_create(user=user, name="test", mfa=user.staff_role)
        db.session.commit()
        return Person(id=user.id, phone=user.phone,
                      api=Api(client, token, user.id if user.staff_role else None))


def family(app, admin: Person, *, members=(), patients: int = 2, caregivers: int = 4,
           days: int = 365, sub_status: str = "active", name: str = "Gia đình Test") -> int:
    """A committed family of `admin` with a plan; members: (Person or id, role) pairs."""
    with app.app_context():
        owner = db.session.get(User, admin.id)
        sub = make_subscription(owner, patients=patients, caregivers=caregivers, days=days,
                                status=sub_status)
        group = make_group(owner, subscription=sub, name=name)
        for who, role in members:
            make_member(group, db.session.get(User, getattr(who, "id", who)), role=role)
        db.session.commit()
        return group.id


def invite(app, admin: Person, group_id: int, phone: str, role: str = "caregiver"):
    """A committed invite through the service: (invite id, link token)."""
    with app.app_context():
        issued = invite_create(actor=db.session.get(User, admin.id),
                               group=db.session.get(FamilyGroup, group_id), phone=phone,
                               role=role)
        db.session.commit()
        return issued.invite.id, issued.token


def expire_invite(app, invite_id: int) -> None:
    with app.app_context():
        db.session.get(ConnectionInvite, invite_id).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def scalar(app, query):
    with app.app_context():
        return db.session.scalar(query)


def refused(response, status: int, code: str) -> dict:
    """Assert an error answer; returns its error object."""
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    return error
