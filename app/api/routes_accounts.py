"""Accounts and plans: register, token, me, subscription, redeem."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from app.accounts.models import GENDER_FEMALE, GENDER_MALE, User
from app.accounts.services import (
    LOCALES,
    account_authenticate,
    account_register,
    api_token_create,
)
from app.api import bp, error_response
from app.api.auth import actor, json_login_key
from app.api.contract import Body, Field, operation, text
from app.api.queries import ties_of
from app.api.serializers import subscription_json, user_json
from app.billing.provider import SubscriptionInfo
from app.billing.services import subscription_of, subscription_redeem
from app.errors import DomainError, Forbidden, Invalid
from app.extensions import LOGIN_SCOPE, db, limiter, login_limit

GENDERS = {"male": GENDER_MALE, "female": GENDER_FEMALE, None: None}
REGISTRATION = Body(
    required={"phone": text(description="A Vietnamese mobile number, however typed."),
              "password": text(description="At least 10 characters, letters and digits."),
              "name": text(description="At most 100 characters once spaces are collapsed."),
              "gender": Field((str, None), {"enum": ["male", "female", None]})},
    optional={"email": text(nullable=True), "locale": text(enum=list(LOCALES))})


def own_user_json(user: User) -> dict:
    """The user as they see themselves: phone, email and every family tie."""
    ties = ties_of([user.id])[user.id]
    return user_json(user, roles=[(g.id, role) for g, role in ties], private=True)


@bp.post("/auth/register")
@limiter.limit(login_limit)  # per address: each sign-up costs a password hash
@operation(body=REGISTRATION, answers={201: "User"}, public=True, rate_limited=True,
           refusals={422: ("invalid_phone", "invalid_email", "weak_password"),
                     409: ("phone_taken", "email_taken")})
def auth_register(body: dict):
    """Create an account; 201 user."""
    if body["gender"] not in GENDERS:
        message = _("Choose male or female.")
        raise Invalid(message, code="invalid", fields={"gender": [message]})
    user = account_register(phone=body["phone"], password=body["password"], name=body["name"],
                            gender=GENDERS[body["gender"]], email=body.get("email"),
                            locale=body.get("locale", "vi"), ip=request.remote_addr)
    db.session.commit()
    return jsonify(own_user_json(user)), 201


@bp.post("/auth/token")
@limiter.shared_limit(login_limit, scope=LOGIN_SCOPE)
@limiter.shared_limit(login_limit, scope=LOGIN_SCOPE, key_func=json_login_key)
@operation(body=Body(required={"login": text(description="A phone number or an email."),
                               "password": text()},
                     optional={"name": text(description="The token's name (cut at 100).")}),
           answers={201: "Token"}, public=True, rate_limited=True,
           refusals={401: ("bad_credentials",), 403: ("account_suspended",)})
def auth_token(body: dict):
    """Exchange a login and password for a personal API token; 201 {token, user}."""
    try:
        user = account_authenticate(login=body["login"], password=body["password"],
                                    ip=request.remote_addr)
    except DomainError as exc:
        db.session.commit()  # keep the failed-attempt audit event, nothing else is pending
        return error_response(exc, 403 if isinstance(exc, Forbidden) else 401)
    token = api_token_create(user=user, name=body.get("name") or "api")
    answer = {"token": token, "user": own_user_json(user)}
    db.session.commit()
    return jsonify(answer), 201


@bp.get("/me")
@operation(answers={200: "User"})
def me():
    """The caller."""
    return jsonify(own_user_json(actor()))


@bp.get("/subscription")
@operation(answers={200: "Subscription"}, refusals={404: ("no_subscription",),
                                                   503: ("payment_unavailable",)})
def subscription():
    """The caller's plan as the payment provider tells it."""
    return jsonify(subscription_json(subscription_of(actor=actor())))


@bp.post("/subscription/redeem")
@operation(body=Body(required={"code": text(description="XXXX-XXXX-XXXX-XXXX")}),
           answers={201: "Subscription"},
           refusals={422: ("invalid_code",), 409: ("code_used",), 404: ("not_found",)})
def subscription_redeem_code(body: dict):
    """Redeem an activation code (local provider); 201 subscription."""
    sub = subscription_redeem(actor=actor(), code=body["code"], ip=request.remote_addr)
    answer = subscription_json(SubscriptionInfo(
        subscription_id=sub.id, owner_user_id=sub.owner_user_id, status=sub.status,
        plan=sub.plan, patient_slots=sub.patient_slots, caregiver_slots=sub.caregiver_slots,
        expires_at=sub.expires_at))
    db.session.commit()
    return jsonify(answer), 201
