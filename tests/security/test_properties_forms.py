"""Every HTML form, fed arbitrary input by Hypothesis (issue 7, point 3): whatever the
fields hold — any unicode, NUL and other controls, empty, whitespace, 100 kB and more,
numbers past their limits, fields missing, repeated or unknown, bytes that are not UTF-8 —
and sent plainly or by htmx, the answer is 2xx, 3xx or 4xx, never a 5xx; no page shows a
traceback or SQL; and a 4xx leaves every table's row count as it was.

Each form is posted by its rightful user (a session of theirs, the CSRF token of their
page) to the URL of real rows of a world seeded once per form (strategies.seed_world); the
examples of one form share that world and must not depend on each other — one that
succeeds (the family renamed, dissolved…) only leaves the others a different valid state.
The forms are found in the URL map: a new POST route fails test_every_form_is_listed
until CASES says who posts it where, and every field of its WTForms class is fuzzed
without being listed.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given
from werkzeug.datastructures import MultiDict

from app.accounts.forms import (
    ClaimForm,
    CodeForm,
    EmailForm,
    EmailProveForm,
    EmailResendForm,
    LoginForm,
    LogoutForm,
    NewClaimLinkForm,
    PasswordForm,
    PhoneOnlyForm,
    ProveCodeForm,
    RegisterForm,
    ResetForm,
    SendCodeForm,
)
from app.billing.forms import RedeemForm
from app.care.forms import RelationshipForm
from app.connections.forms import BackForm, ConsentForm, DisconnectForm, ToggleForm
from app.extensions import db, limiter
from app.forms import BaseForm
from app.groups.forms import GroupNameForm, RoleForm, SelfAddForm
from app.invites.forms import AnswerForm, InviteForm, InviteSignupForm
from app.membership.forms import HandOverForm
from app.privacy.forms import DeleteAccountForm, ExportForm
from app.staff.factor_views import EnrolForm, FactorForm
from app.staff.forms import (
    AccessReasonForm,
    AuditExportForm,
    CodesForm,
    GroupFilterForm,
    ReasonForm,
    SearchForm,
)
from app.staff.queue_views import ReviewForm
from tests.factories import PASSWORD, next_phone
from tests.pages import csrf_from
from tests.security.matrix import shown
from tests.security.strategies import (
    LEAKS,
    ErrorLog,
    World,
    errors_logged,
    form_posts,
    property_settings,
    row_counts,
    seed_world,
    session_id,
)

EXAMPLES = 10  # per form, in CI; HYPOTHESIS_EXAMPLES raises it


@dataclass(frozen=True)
class Case:
    """Who sends a form where: `who` a person of the world (None: a visitor), `path` and
    `valid` (field → a value that passes, so that the others reach the services) filled
    from the world; `form` the WTForms class whose every field is fuzzed, `extra` fields a
    view reads without one; `page` what the visitor opens first (it sets the session);
    `audited` the tables a refusal may still write (a failed login's audit event)."""

    who: str | None
    path: Callable[[World], str]
    form: type[BaseForm] | None = None
    valid: Callable[[World], dict[str, str]] = lambda w: {}
    extra: tuple[str, ...] = ()
    page: Callable[[World], str] = lambda w: "/"
    method: str = "POST"
    audited: frozenset[str] = field(default_factory=frozenset)
    # A staff session that has not passed the second step yet (the code step's own form).
    before_factor: bool = False


def family(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/family/{w.ids['family']}{suffix}"


STRONG = "nhamoi-Bay-2026"
LOGIN = {"login": None, "password": PASSWORD}
FAILED_LOGIN_AUDIT = frozenset({"audit_events"})  # kept on purpose (account_authenticate)
# A refused authenticator code is counted and audited on purpose (app/accounts/mfa.py).
FAILED_CODE_AUDIT = frozenset({"audit_events"})

CASES: dict[str, Case] = {
    # accounts
    "accounts.login": Case(None, lambda w: "/account/login", LoginForm,
                           lambda w: {**LOGIN, "login": w.phones["admin"]},
                           audited=FAILED_LOGIN_AUDIT),
    "accounts.logout": Case("admin", lambda w: "/account/logout", LogoutForm),
    "accounts.register": Case(None, lambda w: "/account/register", RegisterForm,
                              lambda w: {"phone": next_phone(), "name": "Người Mới",
                                         "gender": "1", "email": "", "password": STRONG}),
    "accounts.register_verify": Case(None, lambda w: "/account/register/verify", CodeForm,
                                     lambda w: {"phone": next_phone(), "code": "123456"}),
    "accounts.register_resend": Case(None, lambda w: "/account/register/resend",
                                     PhoneOnlyForm, lambda w: {"phone": next_phone()}),
    "accounts.password_reset": Case(None, lambda w: "/account/password-reset", PhoneOnlyForm,
                                    lambda w: {"phone": w.phones["admin"]}),
    "accounts.password_reset_confirm_page": Case(
        None, lambda w: "/account/password-reset/confirm", ResetForm,
        lambda w: {"phone": w.phones["admin"], "code": "123456", "password": STRONG}),
    # a code that confirms an export or a deletion (issue 19); back to a local path only
    "accounts.confirm_code": Case("admin", lambda w: "/account/confirm-code", SendCodeForm,
                                  extra=("next",), valid=lambda w: {"next": "/me/data"},
                                  page=lambda w: "/account/settings"),
    "accounts.phone_send": Case("unproved", lambda w: "/account/phone/send", SendCodeForm),
    "accounts.phone_confirm": Case("unproved", lambda w: "/account/phone/confirm",
                                   ProveCodeForm, lambda w: {"code": "123456"}),
    "accounts.change_password": Case("admin", lambda w: "/account/settings/password",
                                     PasswordForm, lambda w: {"current_password": PASSWORD,
                                                              "new_password": STRONG}),
    "accounts.token_revoke": Case("admin", lambda w: f"/account/tokens/{w.ids['api_token']}"
                                                     "/revoke", page=lambda w: "/account/settings"),
    "accounts.claim": Case(None, lambda w: f"/claim/{w.tokens['claim']}", ClaimForm,
                           lambda w: {"password": STRONG}),
    # proved e-mail (issue 21): a valid address sends a link (then the pace refuses, 429);
    # the link's confirm button proves the invitee's address once (then 409)
    "accounts.email_set": Case("admin", lambda w: "/account/settings/email", EmailForm,
                               lambda w: {"email": "admin1@example.com"},
                               page=lambda w: "/account/settings"),
    "accounts.email_resend": Case("admin", lambda w: "/account/settings/email/resend",
                                  EmailResendForm, page=lambda w: "/account/settings"),
    "accounts.email_link": Case(None, lambda w: f"/email/{w.tokens['email']}", EmailProveForm),
    "accounts.new_claim_link": Case(None, lambda w: "/account/new-link", NewClaimLinkForm,
                                    lambda w: {"phone": w.phones["imported"]}),
    "core.set_language": Case("admin", lambda w: "/language", extra=("locale", "next"),
                              valid=lambda w: {"locale": "en", "next": "/family"}),
    # deleting my account: the fuzzed password or code never matches, so each post is
    # refused (422) and the caregiver stays for the next example
    "privacy.delete_account_confirm": Case("caregiver", lambda w: "/me/delete",
                                           DeleteAccountForm, page=lambda w: "/me/delete"),
    # my data's export: a wrong password is refused with 422; the right one streams the ZIP
    # and records the export (every try counts against EXPORT_RATE_LIMIT: 429 after)
    "privacy.export": Case("admin", lambda w: "/me/data/export", ExportForm,
                           lambda w: {"password": PASSWORD}, page=lambda w: "/me/data"),
    # withdrawing consent: the first valid example disconnects every follower of the
    # patient, the next ones are refused (nothing_to_withdraw)
    "connections.consent_withdrawal": Case(
        "patient", lambda w: "/followers/withdraw-consent", ConsentForm,
        lambda w: {"tell": "no"}, page=lambda w: "/followers/withdraw-consent"),
    "groups.hand_over": Case("admin", family("/hand-over"), HandOverForm,
                             lambda w: {"user_id": str(w.ids["patient"])},
                             page=family("/hand-over")),
    "notifications.mark_read": Case("admin", lambda w: "/notifications/read",
                                    extra=("up_to",), valid=lambda w: {"up_to": "1"}),
    "billing.redeem": Case("newcomer", lambda w: "/plan/redeem", RedeemForm,
                           lambda w: {"code": "ABCD-EFGH-JKMN-PQRS"}),
    # the family
    "groups.create": Case("newcomer", lambda w: "/family", GroupNameForm,
                          lambda w: {"name": "Gia đình Mới"}),
    "groups.rename": Case("admin", family("/rename"), GroupNameForm,
                          lambda w: {"name": "Tên Mới"}),
    "groups.self_add": Case("admin", family("/self-add"), SelfAddForm,
                            lambda w: {"role": "patient", "relationship": "con_trai"}),
    "groups.remove": Case("admin", lambda w: f"/family/{w.ids['family']}/members/"
                                             f"{w.ids['patient']}/remove", RoleForm,
                          lambda w: {"role": "patient"}),
    "groups.leave": Case("caregiver", family("/leave"), RoleForm,
                         lambda w: {"role": "caregiver"}),
    "groups.dissolve": Case("admin", family("/dissolve")),
    # invites
    "invites.new": Case("admin", family("/invites"), InviteForm,
                        lambda w: {"phone": next_phone(), "role": "caregiver"}),
    "invites.cancel": Case("admin", lambda w: f"/invites/{w.ids['stranger_invite']}/cancel"),
    "invites.resend": Case("admin", lambda w: f"/invites/{w.ids['stranger_invite']}/resend"),
    "invites.accept": Case("invitee", lambda w: "/i/accept", AnswerForm,
                           lambda w: {"token": w.tokens["invite"], "relationship": ""}),
    "invites.reject": Case("invitee", lambda w: "/i/reject", AnswerForm,
                           lambda w: {"token": w.tokens["invite"]}),
    "invites.accept_by_id": Case("invitee", lambda w: f"/invites/{w.ids['invite']}/accept",
                                 AnswerForm, lambda w: {"relationship": "con_gai"}),
    "invites.reject_by_id": Case("invitee", lambda w: f"/invites/{w.ids['invite']}/reject"),
    "invites.login": Case(None, lambda w: "/i/login", LoginForm,
                          lambda w: {**LOGIN, "login": w.phones["invitee"]},
                          page=lambda w: f"/i/{w.tokens['invite']}",
                          audited=FAILED_LOGIN_AUDIT),
    "invites.signup": Case(None, lambda w: "/i/signup", InviteSignupForm,
                           lambda w: {"name": "Người Lạ", "gender": "0", "email": "",
                                      "password": STRONG},
                           page=lambda w: f"/i/{w.tokens['stranger_invite']}"),
    # connections
    "connections.permission_toggle": Case(
        "admin", lambda w: f"/connections/{w.ids['connection']}/permissions/health_overview",
        ToggleForm, lambda w: {"enabled": "off", "confirmed": "1", "back": "group"}),
    "connections.permission_switch": Case(
        "admin", lambda w: "/switch", extra=("set", "confirmed", "back"),
        valid=lambda w: {"set": f"{w.ids['connection']} health_overview off",
                         "confirmed": "1", "back": "group"}),
    "connections.disconnect": Case("admin", lambda w: f"/connections/{w.ids['connection']}"
                                                      "/disconnect", DisconnectForm,
                                   lambda w: {"reason": "Lý do", "back": "group"}),
    "connections.restore": Case("admin", lambda w: f"/connections/{w.ids['revoked']}/restore",
                                BackForm, lambda w: {"back": "group"}),
    "connections.caregiver_disconnect": Case(
        "admin", lambda w: f"/family/{w.ids['family']}/caregivers/{w.ids['caregiver']}"
                           "/disconnect", DisconnectForm, lambda w: {"reason": "Lý do"}),
    "connections.caregiver_restore_all": Case(
        "admin", lambda w: f"/family/{w.ids['family']}/caregivers/{w.ids['gone']}/restore",
        BackForm, lambda w: {"back": "followers"}),
    "care.relationship_save": Case("caregiver", lambda w: f"/connections/"
                                                          f"{w.ids['connection']}/relationship",
                                   RelationshipForm, lambda w: {"relationship": "con_trai"}),
    # staff
    "staff.codes": Case("staff", lambda w: "/staff/codes", CodesForm,
                        lambda w: {"plan": "family", "days": "30", "count": "1",
                                   "reason": "Khách hàng mới"}, audited=FAILED_CODE_AUDIT),
    "staff.suspend": Case("staff", lambda w: f"/staff/users/{w.ids['victim']}/suspend",
                          ReasonForm, lambda w: {"reason": "Lạm dụng", "back": "/staff/"},
                          audited=FAILED_CODE_AUDIT),
    "staff.reactivate": Case("staff", lambda w: f"/staff/users/{w.ids['suspended']}/reactivate",
                             ReasonForm, lambda w: {"reason": "Đã xác minh"},
                             audited=FAILED_CODE_AUDIT),
    "staff.resend": Case("staff", lambda w: f"/staff/notifications/{w.ids['notification']}"
                                            "/resend", ReasonForm,
                         lambda w: {"reason": "Thử lại"}, audited=FAILED_CODE_AUDIT),
    "staff.export_data": Case("staff", lambda w: f"/staff/users/{w.ids['victim']}/export",
                              ReasonForm, lambda w: {"reason": "Người dùng yêu cầu"},
                              page=lambda w: f"/staff/users/{w.ids['victim']}",
                              audited=FAILED_CODE_AUDIT),
    "staff.factor": Case("staff", lambda w: "/staff/factor", FactorForm,
                         page=lambda w: "/staff/factor", audited=FAILED_CODE_AUDIT,
                         before_factor=True),
    "staff.factor_enrol": Case("newstaff", lambda w: "/staff/factor/enrol", EnrolForm,
                               page=lambda w: "/staff/factor/enrol",
                               audited=FAILED_CODE_AUDIT),
    "staff.recovery_codes": Case("staff", lambda w: "/staff/factor/recovery-codes",
                                 FactorForm, page=lambda w: "/staff/factor/recovery-codes",
                                 audited=FAILED_CODE_AUDIT),
    # why staff open a family, a file or the family's audit export (issue 21)
    "staff.group_reason": Case("staff", lambda w: f"/staff/groups/{w.ids['family']}/reason",
                               AccessReasonForm, lambda w: {"reason": "support"}),
    "staff.user_reason": Case("staff", lambda w: f"/staff/users/{w.ids['victim']}/reason",
                              AccessReasonForm, lambda w: {"reason": "support"}),
    "staff.group_audit_csv": Case("staff",
                                  lambda w: f"/staff/groups/{w.ids['family']}/audit.csv",
                                  AuditExportForm, lambda w: {"reason": "support"},
                                  audited=FAILED_CODE_AUDIT),
    "staff.review": Case("staff", lambda w: f"/staff/queue/caregiver_many_patients/"
                                            f"{w.ids['caregiver']}/review", ReviewForm,
                         lambda w: {"note": "Đã kiểm tra"}),
}
# Forms sent with GET (no CSRF): their query string is fuzzed the same way.
GET_CASES: dict[str, Case] = {
    "staff.index": Case("staff", lambda w: "/staff/", SearchForm, method="GET"),
    "staff.groups": Case("staff", lambda w: "/staff/groups", GroupFilterForm,
                         lambda w: {"status": "active"}, method="GET"),
}
ALL_CASES = {**CASES, **GET_CASES}


def field_names(app, case: Case) -> dict[str, None]:
    """The form's fields (csrf_token aside) and the case's extra ones, in order."""
    names: dict[str, None] = {}
    if case.form is not None:
        with app.test_request_context():
            form = case.form(meta={"csrf": False})
            names.update((f.name, None) for f in form if f.name != "csrf_token")
    names.update((name, None) for name in case.extra)
    return names


def all_forms() -> set[type[BaseForm]]:
    found, todo = set(), [BaseForm]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.add(sub)
            todo.append(sub)
    return found


def test_every_form_is_listed(app):
    """Every POST route outside the API has a case, and every form class (the GET search
    forms too) is sent by one."""
    posted = {rule.endpoint for rule in app.url_map.iter_rules()
              if "POST" in rule.methods and not rule.endpoint.startswith("api.")}
    assert posted == set(CASES), (f"not listed: {sorted(posted - set(CASES))}; "
                                  f"gone: {sorted(set(CASES) - posted)}")
    covered = {case.form for case in ALL_CASES.values()}
    assert all_forms() <= covered, sorted(f.__name__ for f in all_forms() - covered)


def client_for(app, world: World, case: Case):
    """A new client: a session of the case's person (the cookie their login would set, so
    that logging out or a new password in one example spoils no other) and the CSRF token
    of the page they would post from."""
    client = app.test_client()
    if case.who is not None:
        with app.app_context():
            user_session = session_id(world.ids[case.who])
        with client.session_transaction() as session:
            session["_user_id"] = user_session
            session["_fresh"] = True
            if case.who == "staff" and not case.before_factor:
                # The staff member passed the second step (issue 21) a moment ago.
                session.update({"staff_factor": world.ids["staff"], "staff": 1,
                                "login_at": int(time.time()), "seen_at": int(time.time())})
    page = client.get(case.page(world))
    assert page.status_code == 200, (case.page(world), page.status_code)
    return client, csrf_from(page.get_data(as_text=True))


def stays_here(target: str | None) -> bool:
    """A redirect to this site: a path (never //host, which browsers also read in /\\host
    and /<tab>/host), or an absolute URL of the test client's host."""
    if target is None:
        return True
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return parts.scheme in ("http", "https") and parts.netloc == "localhost"
    return target.startswith("/") and not re.match(r"/[\\/\x00-\x20]", target)


def check_answer(app, response, before: dict[str, int], case: Case, errors: ErrorLog,
                 sent: str) -> None:
    # An export answers a ZIP: what its files say is what it shows.
    status = response.status_code
    body = shown(response) if response.mimetype == "application/zip" \
        else response.get_data(as_text=True)
    assert status < 500, f"{status} for {sent}\n" + "\n".join(errors.records[-1:])
    assert status >= 200, (status, sent)
    leaked = [leak for leak in LEAKS if leak in body]
    assert not leaked, f"{leaked} in the answer to {sent}"
    for header in ("Location", "HX-Redirect"):
        assert stays_here(response.headers.get(header)), (
            f"{header}: {response.headers.get(header)!r} leaves the site: {sent}")
    if status >= 400:
        with app.app_context():
            after = row_counts()
        changed = {t: (before[t], after[t]) for t in before
                   if before[t] != after[t] and t not in case.audited}
        assert not changed, f"a {status} refusal wrote rows {changed}: {sent}"


@pytest.mark.parametrize("endpoint", sorted(ALL_CASES))
def test_a_form_answers_any_input_without_a_server_error(app, monkeypatch, endpoint):
    """Whatever its fields hold, plainly or by htmx: 2xx, 3xx to this site or 4xx, no
    traceback, and a 4xx wrote nothing."""
    case = ALL_CASES[endpoint]
    # Logins are posted hundreds of times: the limit is tested in its own suite.
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "100000 per minute")
    with app.app_context():
        world = seed_world()
        valid = case.valid(world)
        db.session.remove()
    fields = {name: valid.get(name) for name in field_names(app, case)}
    path = case.path(world)

    answers: Counter[int] = Counter()

    @property_settings(EXAMPLES)
    @given(form_posts(fields))
    def post_anything(post):
        limiter.reset()
        client, token = client_for(app, world, case)
        with app.app_context():
            before = row_counts()
        headers = {"HX-Request": "true"} if post.htmx else {}
        if case.method == "GET":
            response = client.get(path, query_string=MultiDict(list(post.pairs)),
                                  headers=headers)
        else:
            response = client.post(path, data=post.body(token), headers=headers,
                                   content_type="application/x-www-form-urlencoded")
        check_answer(app, response, before, case, error_log, f"{endpoint} {post.summary()}")
        answers[response.status_code] += 1

    with errors_logged() as error_log:
        post_anything()
    print(f"\n{endpoint}: {answers.total()} examples, answers {dict(sorted(answers.items()))}")


# --- what the properties found (each failed before its fix) ---------------------------


def test_marking_notifications_read_up_to_an_id_past_bigint_is_no_server_error(app):
    """up_to is a hidden field: 10**30 overflowed the database's BIGINT (a 500). A negative
    number is no id (422, tests/security/test_ascii_digits.py)."""
    with app.app_context():
        world = seed_world()
    client, token = client_for(app, world, CASES["notifications.mark_read"])
    for up_to, status in ((str(10**30), 303), (str(-(10**30)), 422), (str(2**63), 303)):
        response = client.post("/notifications/read", data={"csrf_token": token,
                                                            "up_to": up_to})
        assert response.status_code == status, (up_to, response.status_code)


@pytest.mark.parametrize("target", ["/\r\n/evil.example", "/\t/evil.example",
                                    "/\n/evil.example", "/\\evil.example",
                                    "/\x00/evil.example"])
def test_a_next_address_with_a_control_character_goes_home(app, target):
    """The language switch and the login follow `next` only to a path of this site: a tab
    or newline in it was dropped by the Location header (//evil.example: an open redirect)
    or refused by werkzeug (a 500)."""
    with app.app_context():
        world = seed_world()
    client, token = client_for(app, world, Case(None, lambda w: "/"))
    switched = client.post("/language", data={"csrf_token": token, "locale": "en",
                                              "next": target})
    assert (switched.status_code, switched.headers["Location"]) == (303, "/")
    logged_in = client.post(f"/account/login?next={quote(target)}", data={
        "csrf_token": token, "login": world.phones["admin"], "password": PASSWORD})
    assert (logged_in.status_code, logged_in.headers["Location"]) == (303, "/")


@pytest.mark.parametrize("relationship", ["\x00", "con_trai\x00", "x" * 31])
def test_accepting_by_id_with_a_nul_in_the_relationship_is_a_422(app, relationship):
    """The /invites page's accept posted its relationship to the service unchecked: a NUL
    reached PostgreSQL, which refuses it (a 500)."""
    with app.app_context():
        world = seed_world()
    client, token = client_for(app, world, CASES["invites.accept_by_id"])
    with app.app_context():
        before = row_counts()
    response = client.post(f"/invites/{world.ids['invite']}/accept",
                           data={"csrf_token": token, "relationship": relationship})
    assert response.status_code == 422, response.status_code
    with app.app_context():
        assert row_counts() == before
