"""Accounts and plans: register, token, me, subscription, redeem."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from app.accounts.identity import (
    confirm_code_send,
    password_reset_confirm,
    password_reset_start,
    phone_proof_confirm,
    phone_proof_start,
    registration_start,
    registration_verify,
)
from app.accounts.mfa import mfa_check
from app.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from app.accounts.services import (
    LOCALES,
    account_authenticate,
    api_token_create,
    password_rule,
)
from app.api.auth import actor, json_login_key
from app.api.blueprint import bp, error_response
from app.api.contract import Body, Field, operation, text
from app.api.serializers import subscription_json, user_json
from app.billing.services import subscription_of, subscription_redeem
from app.errors import DomainError, Forbidden, Invalid, TooSoon
from app.extensions import (
    LOGIN_SCOPE,
    forget_login_failures,
    limit_code_checks,
    limit_code_sending,
    limiter,
    login_limit,
)
from app.groups.queries import ties_of
from app.models.accounts import GENDER_FEMALE, GENDER_MALE, User
from app.payments.provider import SubscriptionInfo
from app.transaction import after_commit

GENDERS = {"male": GENDER_MALE, "female": GENDER_FEMALE, None: None}
PHONE = text(description="A Vietnamese mobile number, however typed (0912 345 678, "
                         "+84912345678).")
CODE = text(description="The 6 digits of the SMS.")


def _password_field():
    return {"description": password_rule(), "minLength": MIN_LENGTH, "maxLength": MAX_LENGTH}


PASSWORD = Field((str,), _password_field)
REGISTRATION = Body(
    required={"phone": PHONE, "password": PASSWORD,
              "name": text(description="At most 100 characters once spaces are collapsed."),
              "gender": Field((str, None), {"enum": ["male", "female", None]})},
    optional={"email": text(nullable=True), "locale": text(enum=list(LOCALES))})
CODE_SENT = {"verification": "sent"}
# What confirms a sensitive action (an export, a deletion): the password, or the code of
# an SMS from POST /me/confirmation-code (app.accounts.identity.identity_confirm).
CONFIRMATION = {"password": text(description="The account's password."),
                "code": text(description="The 6 digits of an SMS from POST "
                                         "/api/v1/me/confirmation-code; instead of the "
                                         "password.")}


def reset_hint() -> str:
    return _("Forgotten password: POST /api/v1/auth/password-reset with your phone number, "
             "then …/confirm with the code from the SMS.")


def own_user_json(user: User) -> dict:
    """The user as they see themselves: phone, email and every family tie."""
    ties = ties_of([user.id])[user.id]
    return user_json(user, roles=[(g.id, role) for g, role in ties], private=True)


@bp.post("/auth/register")
@limit_code_sending
@operation(body=REGISTRATION, answers={202: "CodeSent"}, public=True, rate_limited=True,
           refusals={422: ("invalid_phone", "invalid_email", "weak_password")})
def auth_register(body: dict):
    """Ask for an account: a code goes to the number by SMS (ID-001); 202, the same
    answer whether or not the number has an account."""
    if body["gender"] not in GENDERS:
        message = _("Choose male or female.")
        raise Invalid(message, code="invalid", fields={"gender": [message]})
    registration_start(phone=body["phone"], password=body["password"], name=body["name"],
                       gender=GENDERS[body["gender"]], email=body.get("email"),
                       locale=body.get("locale", "vi"), ip=request.remote_addr)
    return jsonify(CODE_SENT), 202


@bp.post("/auth/register/verify")
@limit_code_checks
@operation(body=Body(required={"phone": PHONE, "code": CODE}), answers={201: "Token"},
           public=True, rate_limited=True, refusals={422: ("invalid_phone", "invalid_code")})
def auth_register_verify(body: dict):
    """The code from the SMS: the account exists from here, its number proved; 201
    {token, user}."""
    # A wrong code's counted try is kept though refused (invalid_code: keep_on_refusal).
    user = registration_verify(phone=body["phone"], code=body["code"], ip=request.remote_addr)
    token = api_token_create(user=user, name="api")
    answer = {"token": token, "user": own_user_json(user)}
    return jsonify(answer), 201


@bp.post("/auth/password-reset")
@limit_code_sending
@operation(body=Body(required={"phone": PHONE}), answers={202: "CodeSent"}, public=True,
           rate_limited=True, refusals={422: ("invalid_phone",)})
def auth_password_reset(body: dict):
    """Forgotten password: a code to the account's proved number (ID-002); 202, the same
    answer for any number."""
    password_reset_start(phone=body["phone"], ip=request.remote_addr)
    return jsonify(CODE_SENT), 202


@bp.post("/auth/password-reset/confirm")
@limit_code_checks
@operation(body=Body(required={"phone": PHONE, "code": CODE, "password": PASSWORD}),
           answers={200: "PasswordReset"}, public=True, rate_limited=True,
           refusals={422: ("invalid_phone", "invalid_code", "weak_password")})
def auth_password_reset_confirm(body: dict):
    """A new password with the code; every session and API token of the account ends."""
    user = password_reset_confirm(phone=body["phone"], code=body["code"],
                                  password=body["password"], ip=request.remote_addr)
    logins = (user.phone, user.email)

    def reset():  # the login buckets are emptied once the new password is saved
        forget_login_failures(*logins)
        return jsonify(passwordReset=True)

    return after_commit(reset)


@bp.post("/me/phone-verification")
@limit_code_sending
@operation(body=Body(empty=True), answers={202: "CodeSent"}, rate_limited=True,
           refusals={409: ("already_proved", "no_phone")})
def me_phone_verification(body: dict):
    """Prove my number, step 1: a code to it by SMS."""
    phone_proof_start(actor=actor(), ip=request.remote_addr)
    return jsonify(CODE_SENT), 202


@bp.post("/me/confirmation-code")
@limit_code_sending
@operation(body=Body(empty=True), answers={202: "CodeSent"}, rate_limited=True,
           refusals={409: ("phone_unverified",)})
def me_confirmation_code(body: dict):
    """A code by SMS to my proved number, to confirm an export or a deletion with."""
    confirm_code_send(actor=actor(), ip=request.remote_addr)
    return jsonify(CODE_SENT), 202


@bp.post("/me/phone-verification/confirm")
@limit_code_checks
@operation(body=Body(required={"code": CODE}), answers={200: "User"}, rate_limited=True,
           refusals={409: ("already_proved", "no_phone"), 422: ("invalid_code",)})
def me_phone_verification_confirm(body: dict):
    """Prove my number, step 2: the code from the SMS; 200 me."""
    phone_proof_confirm(actor=actor(), code=body["code"], ip=request.remote_addr)
    answer = own_user_json(actor())
    return jsonify(answer)


@bp.post("/auth/token")
@limiter.shared_limit(login_limit, scope=LOGIN_SCOPE)
@limiter.shared_limit(login_limit, scope=LOGIN_SCOPE, key_func=json_login_key)
@operation(body=Body(required={"login": text(description="A phone number or an email."),
                               "password": text()},
                     optional={"name": text(description="The token's name (cut at 100)."),
                               "totp": text(description=(
                                   "Staff: the code of the authenticator app (or a recovery "
                                   "code). Only a token issued with it reaches the staff "
                                   "routes; ignored for other accounts."))}),
           answers={201: "Token"}, public=True, rate_limited=True,
           refusals={401: ("bad_credentials", "invalid_code", "code_reused"),
                     403: ("account_suspended", "mfa_not_enrolled")})
def auth_token(body: dict):
    """Exchange a login and password (and, for staff, a TOTP code) for a personal API
    token; 201 {token, user}."""
    try:
        user = account_authenticate(login=body["login"], password=body["password"],
                                    ip=request.remote_addr)
        mfa = user.staff_role and body.get("totp") is not None
        if mfa:
            mfa_check(actor=user, code=body["totp"], purpose="api_token",
                      ip=request.remote_addr)
    except DomainError as exc:  # its audit event is kept (keep_on_refusal)
        if exc.code == "bad_credentials":  # the way back in (ID-002)
            exc.message = f"{exc.message} {reset_hint()}"
        if isinstance(exc, TooSoon):
            raise
        return error_response(exc, 403 if isinstance(exc, Forbidden) else 401)
    token = api_token_create(user=user, name=body.get("name") or "api", mfa=mfa)
    answer = {"token": token, "user": own_user_json(user)}
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
    return jsonify(answer), 201
