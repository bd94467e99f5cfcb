"""Every unsafe method of the URL map refuses a forged request (issue 7, item 3).

The walk reads app.url_map: each rule with POST, PUT, PATCH or DELETE must be listed below
with who is allowed to call it (so that its ids, filled from the seeded world, reach the
view) — or in EXEMPT with the reason. A new unsafe rule that is in neither fails
test_the_walk_knows_every_unsafe_rule: nothing is skipped silently.

- Pages (CSRFProtect, a token per session): without a token, with a token of another
  session, with a made-up token, and as an htmx request without its X-CSRFToken header,
  the answer is the 400 "form expired" page and not one row of any table changed. With
  the session's own token the same request passes the check and reaches the view.
- The API (/api/v1, app/api/auth.py): anonymous or with a made-up bearer token it is 401;
  with the browser session but no (or a wrong) X-CSRFToken header it is the 400 refusal;
  nothing changed. With the caller's bearer token, or the session and its header, the
  request reaches the view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from flask_babel import force_locale
from flask_babel import gettext as _

from tests.factories import PASSWORD
from tests.pages import csrf_of
from tests.security.conftest import as_who, db_snapshot, fill

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Case:
    """Who may make the request (tests/security/conftest.py as_who) and what to fill."""

    who: str
    given: dict = field(default_factory=dict)
    form: dict = field(default_factory=dict)


PAGES: dict[tuple[str, str], Case] = {
    ("POST", "/account/login"): Case("anon"),
    ("POST", "/account/logout"): Case("admin"),
    ("POST", "/account/new-link"): Case("anon"),
    ("POST", "/account/password-reset"): Case("anon"),
    ("POST", "/account/password-reset/confirm"): Case("anon"),
    ("POST", "/account/confirm-code"): Case("admin"),
    ("POST", "/account/phone/confirm"): Case("unproved"),
    ("POST", "/account/phone/send"): Case("unproved"),
    ("POST", "/account/register"): Case("anon"),
    ("POST", "/account/register/resend"): Case("anon"),
    ("POST", "/account/register/verify"): Case("anon"),
    ("POST", "/account/settings/password"): Case("admin"),
    ("POST", "/account/tokens/<int:token_id>/revoke"): Case("admin"),
    ("POST", "/claim/<token>"): Case("anon"),
    ("POST", "/email/<token>"): Case("anon"),
    ("POST", "/account/settings/email"): Case("admin", form={"email": "an@example.com"}),
    ("POST", "/account/settings/email/resend"): Case("admin"),
    ("POST", "/connections/<int:connection_id>/disconnect"): Case("patient"),
    ("POST", "/connections/<int:connection_id>/permissions/<code>"): Case("admin"),
    ("POST", "/switch"): Case("admin"),
    ("POST", "/connections/<int:connection_id>/relationship"): Case("caregiver"),
    ("POST", "/connections/<int:connection_id>/restore"): Case("admin"),
    ("POST", "/family"): Case("invitee"),
    ("POST", "/family/<int:group_id>/caregivers/<int:user_id>/disconnect"): Case("admin"),
    ("POST", "/family/<int:group_id>/caregivers/<int:user_id>/restore"): Case("admin"),
    ("POST", "/family/<int:group_id>/dissolve"): Case("admin"),
    ("POST", "/family/<int:group_id>/hand-over"): Case("admin"),
    ("POST", "/followers/withdraw-consent"): Case("patient"),
    ("POST", "/family/<int:group_id>/invites"): Case("admin"),
    ("POST", "/family/<int:group_id>/leave"): Case("caregiver"),
    ("POST", "/family/<int:group_id>/members/<int:user_id>/remove"): Case("admin"),
    ("POST", "/family/<int:group_id>/rename"): Case("admin"),
    ("POST", "/family/<int:group_id>/self-add"): Case("admin"),
    ("POST", "/i/accept"): Case("invitee", form={"token": "world.invite_token"}),
    ("POST", "/i/login"): Case("link"),
    ("POST", "/i/reject"): Case("invitee", form={"token": "world.invite_token"}),
    ("POST", "/i/signup"): Case("link"),
    ("POST", "/invites/<int:invite_id>/accept"): Case("invitee"),
    ("POST", "/invites/<int:invite_id>/cancel"): Case("admin"),
    ("POST", "/invites/<int:invite_id>/reject"): Case("invitee"),
    ("POST", "/invites/<int:invite_id>/resend"): Case("admin"),
    ("POST", "/me/delete"): Case("caregiver", form={"password": PASSWORD}),
    ("POST", "/language"): Case("admin", form={"locale": "en"}),
    ("POST", "/notifications/read"): Case("admin"),
    ("POST", "/plan/redeem"): Case("admin"),
    ("POST", "/staff/codes"): Case("staff"),
    ("POST", "/staff/factor"): Case("staff_pending"),
    ("POST", "/staff/factor/enrol"): Case("newstaff"),
    ("POST", "/staff/factor/recovery-codes"): Case("staff"),
    ("POST", "/staff/notifications/<int:notification_id>/resend"): Case("staff"),
    ("POST", "/staff/queue/<signal>/<key>/review"): Case("staff"),
    ("POST", "/staff/users/<int:user_id>/reactivate"): Case("staff"),
    ("POST", "/staff/users/<int:user_id>/suspend"): Case("staff"),
    ("POST", "/staff/users/<int:user_id>/export"): Case("staff"),
    ("POST", "/staff/users/<int:user_id>/reason"): Case("staff"),
    ("POST", "/staff/groups/<int:group_id>/reason"): Case("staff"),
    ("POST", "/staff/groups/<int:group_id>/audit.csv"): Case("staff"),
    ("POST", "/me/data/export"): Case("admin"),
}

API: dict[tuple[str, str], Case] = {
    # With the session (and its header) it is 400 token_required: no token to revoke.
    ("DELETE", "/api/v1/auth/token"): Case("admin"),
    ("PUT", "/api/v1/connections/<int:connection_id>/permissions"): Case("admin"),
    ("PUT", "/api/v1/connections/<int:connection_id>/relationship"): Case("caregiver"),
    ("PUT", "/api/v1/connections/<int:connection_id>/restore"): Case("admin"),
    ("PUT", "/api/v1/connections/<int:connection_id>/revoke"): Case("admin"),
    ("POST", "/api/v1/families"): Case("invitee"),
    ("PATCH", "/api/v1/families/<int:group_id>"): Case("admin"),
    ("POST", "/api/v1/me/confirmation-code"): Case("admin"),
    ("POST", "/api/v1/me/email"): Case("admin"),
    ("POST", "/api/v1/me/email/resend"): Case("admin"),
    ("POST", "/api/v1/me/consent-withdrawal"): Case("patient"),
    ("POST", "/api/v1/families/<int:group_id>/handover"): Case("admin"),
    ("POST", "/api/v1/me/data/export"): Case("admin"),
    ("POST", "/api/v1/me/deletion"): Case("caregiver"),
    ("POST", "/api/v1/me/phone-verification"): Case("unproved"),
    ("POST", "/api/v1/me/phone-verification/confirm"): Case("unproved"),
    ("DELETE", "/api/v1/families/<int:group_id>"): Case("admin"),
    ("PUT", "/api/v1/families/<int:group_id>/caregivers/<int:caregiver_id>/restore"):
        Case("admin"),
    ("PUT", "/api/v1/families/<int:group_id>/caregivers/<int:caregiver_id>/revoke"):
        Case("admin"),
    ("POST", "/api/v1/families/<int:group_id>/invites"): Case("admin"),
    ("DELETE", "/api/v1/invites/<int:invite_id>"): Case("admin"),
    ("POST", "/api/v1/invites/<int:invite_id>/accept"): Case("invitee"),
    ("POST", "/api/v1/invites/<int:invite_id>/reject"): Case("invitee"),
    ("POST", "/api/v1/invites/<int:invite_id>/resend"): Case("admin"),
    ("POST", "/api/v1/invites/accept"): Case("invitee"),
    ("POST", "/api/v1/staff/codes"): Case("staff"),
    ("POST", "/api/v1/staff/notifications/<int:notification_id>/resend"): Case("staff"),
    ("POST", "/api/v1/staff/queue/<signal>/<key>/review"): Case("staff"),
    ("POST", "/api/v1/staff/users/<int:user_id>/<any(suspend, reactivate):action>"):
        Case("staff"),
    ("POST", "/api/v1/subscription/redeem"): Case("admin"),
    ("POST", "/api/v1/users/<int:user_id>/families/<int:group_id>"): Case("admin"),
    ("DELETE", "/api/v1/users/<int:user_id>/families/<int:group_id>"): Case("admin"),
}

# Unsafe rules that take neither a CSRF token nor a bearer token, and why.
EXEMPT = {
    ("POST", "/api/v1/auth/token"):
        "logging in to the API: the credentials are the proof. The token is in the JSON "
        "answer only (no CORS, so another site cannot read it), no session is started, "
        "and the body must be application/json, which no cross-site form can send.",
    ("POST", "/api/v1/auth/register"):
        "signing up through the API: anyone may, rate-limited per address and number; it "
        "starts no session and takes application/json only, which no cross-site form can "
        "send.",
    ("POST", "/api/v1/auth/register/verify"):
        "the sign-up's code: the code is the proof; no session is started, the token is in "
        "the JSON answer only, and the body is application/json.",
    ("POST", "/api/v1/auth/password-reset"):
        "asking for a reset code: anyone may, for any number, with the same answer; no "
        "session, application/json only.",
    ("POST", "/api/v1/auth/password-reset/confirm"):
        "the reset's code is the proof; no session is started and the body is "
        "application/json, which no cross-site form can send.",
    ("POST", "/api/v1/auth/email/prove"):
        "the emailed link's token is the proof (issue 21): whoever holds it reached the "
        "address; no session is started and the body is application/json only.",
}


def unsafe_rules(app) -> dict[tuple[str, str], object]:
    return {(method, rule.rule): rule for rule in app.url_map.iter_rules()
            for method in sorted(rule.methods & UNSAFE)}


def rule_of(app, key):
    return unsafe_rules(app)[key]


def csrf_refused(app, response, *, locale: str = "vi") -> bool:
    """The answer is the CSRF refusal — the page's (app/errors.py) or the API's
    (app/api/__init__.py) — not a view's own 400."""
    if response.is_json:
        return response.status_code == 400 and \
            response.get_json()["error"]["code"] == "csrf_failed"
    with app.test_request_context(), force_locale(locale):
        expected = _("This form has expired or was sent from elsewhere. "
                     "Go back, reload the page and try again.")
    return response.status_code == 400 and expected in response.get_data(as_text=True)


def resolve(world, form: dict) -> dict:
    return {k: getattr(world, v.split(".", 1)[1]) if v.startswith("world.") else v
            for k, v in form.items()}


def test_the_walk_knows_every_unsafe_rule(app):
    """A new POST/PUT/PATCH/DELETE rule fails here until it is walked or exempted."""
    found = set(unsafe_rules(app))
    known = set(PAGES) | set(API) | set(EXEMPT)
    assert found - known == set(), "unsafe rules the CSRF walk does not know"
    assert known - found == set(), "rules listed in the walk that the app no longer has"
    assert all(rule.startswith("/api/") for _m, rule in API)
    assert not any(rule.startswith("/api/") for _m, rule in PAGES)


@pytest.mark.parametrize("key", sorted(PAGES), ids=" ".join)
def test_a_page_refuses_a_post_without_its_csrf_token(app, world, key):
    method, _rule = key
    case = PAGES[key]
    url = fill(rule_of(app, key), world, **case.given)
    form = resolve(world, case.form)
    client = as_who(app, world, case.who)
    token = csrf_of(client)
    other_token = csrf_of(as_who(app, world, "anon"))
    before = db_snapshot(app)
    forged = [
        client.open(url, method=method, data=form),
        client.open(url, method=method, data={**form, "csrf_token": other_token}),
        client.open(url, method=method, data={**form, "csrf_token": token[:-4] + "AAAA"}),
        client.open(url, method=method, data=form, headers={"HX-Request": "true"}),
        client.open(url, method=method, data=form,
                    headers={"HX-Request": "true", "X-CSRFToken": other_token}),
    ]
    assert [csrf_refused(app, r) for r in forged] == [True] * len(forged)
    assert db_snapshot(app) == before, "a refused request changed the database"
    # The control: the session's own token passes, and the filled URL reaches the view.
    passed = client.open(url, method=method, data={**form, "csrf_token": token})
    assert not csrf_refused(app, passed)
    assert passed.status_code not in (401, 403, 404, 405), passed.get_data(as_text=True)[:300]
    # ... and so does an htmx request with the header (a fresh token: the first control
    # may have ended the session, e.g. logging out).
    hx = client.open(url, method=method, data=form,
                     headers={"HX-Request": "true", "X-CSRFToken": csrf_of(client)})
    assert not csrf_refused(app, hx)


@pytest.mark.parametrize("key", sorted(API), ids=" ".join)
def test_an_api_write_needs_a_bearer_token_or_the_session_and_its_header(app, world, key):
    method, _rule = key
    case = API[key]
    url = fill(rule_of(app, key), world, **case.given)
    body = {"token": world.invite_token} if url.endswith("/invites/accept") else {}
    anon = app.test_client()
    session = as_who(app, world, case.who)
    token = csrf_of(session)
    before = db_snapshot(app)
    refused = [anon.open(url, method=method, json=body),
               anon.open(url, method=method, json=body,
                         headers={"Authorization": "Bearer not-a-real-token"}),
               anon.open(url, method=method, json=body, headers={"X-CSRFToken": token})]
    for response in refused:
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    forged = [session.open(url, method=method, json=body),
              session.open(url, method=method, json=body, headers={"X-CSRFToken": "x" + token}),
              session.open(url, method=method, data={"csrf_token": "forged"})]
    for response in forged:
        assert csrf_refused(app, response), response.get_json()
    assert db_snapshot(app) == before, "a refused request changed the database"
    # The controls: the caller's bearer token, or the session with its header, gets through.
    bearer = {"Authorization": f"Bearer {world.api_tokens[case.who]}"}
    passed = anon.open(url, method=method, json=body, headers=bearer)
    assert passed.status_code not in (400, 401, 403, 404, 405), passed.get_json()
    with_header = session.open(url, method=method, json=body, headers={"X-CSRFToken": token})
    assert not csrf_refused(app, with_header)
    assert with_header.status_code != 401


def test_a_bearer_request_never_uses_the_session(app, world):
    """A logged-in browser that also sends a bad bearer token is not let in by its cookie."""
    session = as_who(app, world, "admin")
    response = session.patch(f"/api/v1/families/{world.group_id}", json={"name": "Đổi tên"},
                             headers={"Authorization": "Bearer wrong",
                                      "X-CSRFToken": csrf_of(session)})
    assert response.status_code == 401


@pytest.mark.parametrize("key", sorted(EXEMPT), ids=" ".join)
def test_an_exempt_rule_takes_only_json_and_starts_no_session(app, world, key):
    method, rule = key
    anon = app.test_client()
    new = {"phone": "0912345678", "password": PASSWORD, "name": "Lê Văn Mới", "gender": "male"}
    # Each rule's JSON body, and its answer once the view has it (a wrong code: 422).
    body, status = {
        "/api/v1/auth/token": ({"login": world.phones["admin"], "password": PASSWORD}, 201),
        "/api/v1/auth/register": (new, 202),
        "/api/v1/auth/register/verify": ({"phone": "0912345678", "code": "000000"}, 422),
        "/api/v1/auth/password-reset": ({"phone": world.phones["admin"]}, 202),
        "/api/v1/auth/password-reset/confirm": (
            {"phone": world.phones["admin"], "code": "000000", "password": PASSWORD}, 422),
        "/api/v1/auth/email/prove": ({"token": world.email_token}, 200),
    }[rule]
    # What a cross-site form can send: text/plain (or a urlencoded body), never JSON.
    before = db_snapshot(app)
    as_form = anon.open(rule, method=method, data=json.dumps(body),
                        content_type="text/plain")
    assert 400 <= as_form.status_code < 500
    assert db_snapshot(app) == before
    as_json = anon.open(rule, method=method, json=body)
    assert as_json.status_code == status
    if status == 422:
        assert as_json.get_json()["error"]["code"] == "invalid_code"
    assert "Set-Cookie" not in as_json.headers
    assert EXEMPT[key]


def test_over_https_a_post_from_another_site_is_refused_even_with_a_token(app, world):
    """Flask-WTF's strict check: over HTTPS the Referer must be this site, so a token
    that leaked cannot be replayed from another origin."""
    client = as_who(app, world, "admin")
    token = csrf_of(client)
    https = {"base_url": "https://localhost", "data": {"locale": "en", "csrf_token": token}}
    before = db_snapshot(app)
    for headers in ({}, {"Referer": "https://evil.example/"},
                    {"Referer": "http://localhost/"}):
        assert csrf_refused(app, client.post("/language", headers=headers, **https))
    assert db_snapshot(app) == before
    assert client.post("/language", headers={"Referer": "https://localhost/family"},
                       **https).status_code == 303
