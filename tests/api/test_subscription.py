"""GET /subscription and POST /subscription/redeem."""

from __future__ import annotations

from datetime import datetime

from app.billing.services import codes_issue
from app.extensions import db
from app.models.billing import ActivationCode, Subscription
from tests.api import count, person, refused


def issue_code(app, plan="family", days=30) -> str:
    with app.app_context():
        [code] = codes_issue(actor=None, plan=plan, days=days)
        db.session.commit()
        return code


def test_no_subscription(app, client):
    user = person(app, client)
    refused(user.api.get("/subscription"), 404, "no_subscription")


def test_redeem_then_read(app, client):
    user = person(app, client)
    code = issue_code(app, plan="family_plus", days=30)
    response = user.api.post("/subscription/redeem", json={"code": code.lower()})
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "active"
    assert body["plan"] == "family_plus"
    assert body["slots"] == {"patient": 4, "caregiver": 8}
    assert body["expiresAt"].endswith("Z")
    datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert user.api.get("/subscription").get_json() == body
    assert count(app, Subscription, Subscription.owner_user_id == user.id) == 1


def test_expired_subscription_reads_expired(app, client):
    user = person(app, client)
    code = issue_code(app)
    assert user.api.post("/subscription/redeem", json={"code": code}).status_code == 201
    with app.app_context():
        sub = db.session.scalar(db.select(Subscription))
        sub.expires_at = sub.starts_at
        db.session.commit()
    assert user.api.get("/subscription").get_json()["status"] == "expired"


def test_redeem_invalid_code(app, client):
    user = person(app, client)
    issue_code(app)
    for code in ("ABCD-EFGH-JKMN-PQRS", "short"):
        error = refused(user.api.post("/subscription/redeem", json={"code": code}),
                        422, "invalid_code")
        assert "code" in error["fields"]
    assert count(app, Subscription) == 0
    assert count(app, ActivationCode, ActivationCode.redeemed_by.is_not(None)) == 0


def test_redeem_code_used(app, client):
    first, second = person(app, client), person(app, client)
    code = issue_code(app)
    assert first.api.post("/subscription/redeem", json={"code": code}).status_code == 201
    refused(second.api.post("/subscription/redeem", json={"code": code}), 409, "code_used")
    assert count(app, Subscription, Subscription.owner_user_id == second.id) == 0
    assert count(app, ActivationCode, ActivationCode.redeemed_by == first.id) == 1


def test_redeem_malformed_body(app, client):
    user = person(app, client)
    refused(user.api.post("/subscription/redeem", json={"code": 123}), 422, "invalid")
    refused(user.api.post("/subscription/redeem", json={"code": "x", "plan": "family"}),
            422, "invalid")
    assert count(app, Subscription) == 0
