"""Issue 5, done when #1: every route under /staff and /api/v1/staff, walked from the URL
map with every method it allows and its parameters filled with REAL objects' ids, refuses
an anonymous visitor, a family's admin, its caregiver and its patient — never data, never
a written row — while staff get through.

What each refusal is:
- HTML pages: an anonymous visitor is redirected to the login page (and comes back after);
  a signed-in user who is not staff gets 403.
- The JSON API never redirects (a client cannot follow a login page): no user is 401
  `unauthorized`, a signed-in non-staff user — session or bearer token — is 403
  `staff_only`.

A route added later is walked too; one with a URL parameter this file cannot fill fails
the test until the parameter is added to `params` below.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update
from werkzeug.routing import AnyConverter

from app.accounts.services import api_token_create
from app.connections.control import connection_revoke
from app.extensions import db
from app.invites.services import invite_create
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.groups import FamilyGroup
from app.models.notifications import InviteNotification
from app.phone import display_phone
from app.staff.signals import flags
from tests.conftest import log_in
from tests.factories import make_user, national
from tests.pages import csrf_from
from tests.security.matrix import shown
from tests.service_helpers import admin_group, connection_between, join

PREFIXES = ("/staff", "/api/v1/staff")
API_PREFIX = "/api/v1/"
NOT_WALKED = {"HEAD", "OPTIONS"}  # answered by Flask itself from GET / the rule
REASON = "lý do riêng ZQ-7731: con nói dối"  # a private disconnect reason
GATEWAY_ERROR = "gateway said ZQ-4410"
BARE_PHONE = "+84987000111"
# Columns that change on reads by design: a bearer token's last use (at most once a minute).
IGNORED_COLUMNS = {("api_tokens", "last_used_at")}
# reason: a free text for the actions, a reason's code for opening a family, a file or an
# export (issue 21), which then take reason_text as the free text.
FORM = {"reason": "other", "reason_text": "walk", "note": "walk", "plan": "family",
        "days": "30", "count": "1", "back": "/staff/"}
API_BODIES = {"suspend": {"reason": "walk"}, "reactivate": {"reason": "walk"},
              "resend": {"reason": "walk"}, "review": {"note": "walk"},
              "codes": {"plan": "family", "days": 30, "count": 1, "reason": "walk"}}


@dataclass
class Who:
    key: str
    id: int
    phone: str
    name: str
    email: str | None
    token: str
    family: str | None = None  # the name of their own family, theirs to see
    forms: list[str] = field(default_factory=list)

    def revealing(self) -> list[str]:
        """How this person could show up in a page or an answer."""
        found = [self.name, self.phone, national(self.phone), display_phone(self.phone)]
        return found + ([self.email] if self.email else [])


@pytest.fixture
def world(app):
    """A staff member; family A (admin with an email, patient, caregiver joined through
    invites, their connection silently disconnected with a private reason, an invite to
    a bare phone whose SMS failed); families B and C of other admins that invited the same
    bare phone, so that phone is flagged (phone_many_groups)."""
    with app.app_context():
        staff = make_user(name="Nhân Viên Zstaff", is_staff=True)
        admin, _sub, group = admin_group(admin=make_user(name="Trần Zadmin",
                                                       email="zadmin@example.vn"))
        group.name = "Gia đình Zalpha"
        patient = join(group, make_user(name="Ông Zpatient", gender=0), role="patient")
        caregiver = join(group, make_user(name="Chị Zcare", gender=1), role="caregiver")
        connection = connection_between(patient, caregiver)
        connection_revoke(actor=admin, connection_id=connection.id, reason=REASON)
        bare = invite_create(actor=admin, group=group, phone=national(BARE_PHONE),
                             role="caregiver").invite
        db.session.execute(update(InviteNotification).where(
            InviteNotification.invite_id == bare.id,
            InviteNotification.notification_type == "INVITE_CREATED",
        ).values(status="failed", retry_count=5, error=GATEWAY_ERROR))
        others = []
        for letter in ("Zbeta", "Zgamma"):
            other_admin, _s, other = admin_group(admin=make_user(name=f"Lê {letter}admin"))
            other.name = f"Nhà {letter}"
            member = join(other, make_user(name=f"Bà {letter}member", gender=1), role="patient")
            invite_create(actor=other_admin, group=other, phone=national(BARE_PHONE),
                          role="caregiver")
            others += [other_admin, member]
        db.session.commit()
        failed_id = db.session.scalar(select(InviteNotification.id).where(
            InviteNotification.status == "failed"))
        with app.test_request_context():
            flagged = [f for f in flags() if f.key == BARE_PHONE]
        assert flagged, "the bare phone should be flagged by phone_many_groups"

        def who(key: str, user: User, family: str | None = None) -> Who:
            return Who(key=key, id=user.id, phone=user.phone, name=user.name,
                       email=user.email,
                       token=api_token_create(user=user, name="walk", mfa=user.staff_role),
                       family=family)

        people = {"staff": who("staff", staff), "admin": who("admin", admin, group.name),
                  "patient": who("patient", patient, group.name),
                  "caregiver": who("caregiver", caregiver, group.name)}
        strangers = [who(f"other{i}", u) for i, u in enumerate(others)]
        db.session.commit()
        return SimpleNamespace(
            people=people, strangers=strangers, family_names=[
                db.session.get(FamilyGroup, gid).name
                for gid in db.session.scalars(select(FamilyGroup.id))],
            search=national(strangers[0].phone)[:7],
            params={"user_id": patient.id, "group_id": group.id,
                    "notification_id": failed_id, "signal": flagged[0].signal,
                    "key": flagged[0].key})


def staff_rules(app) -> list:
    rules = [r for r in app.url_map.iter_rules()
             if any(r.rule == p or r.rule.startswith(p + "/") for p in PREFIXES)]
    endpoints = {r.endpoint for r in rules}
    # the walk finds the routes it must (the filter above is not silently empty)
    assert {"staff.index", "staff.user", "staff.group", "staff.queue",
            "api.staff_users", "api.staff_user"} <= endpoints
    return sorted(rules, key=lambda r: (r.rule, r.endpoint))


def requests_of(app, world) -> list[tuple[str, str, str]]:
    """(method, url, last path segment) for every staff rule and method; GETs also with
    a search (the start of a stranger's phone number), so search results would show."""
    walked = []
    for rule in staff_rules(app):
        # An <any(a, b):name> part is walked with each of its values.
        choices = {name: sorted(converter.items) for name, converter in rule._converters.items()
                   if isinstance(converter, AnyConverter)}
        unknown = rule.arguments - set(world.params) - set(choices)
        if unknown:
            pytest.fail(f"{rule.rule}: no real value for {sorted(unknown)}; add it to "
                        "world.params so that the new route is walked")
        fixed = {k: world.params[k] for k in rule.arguments - set(choices)}
        for picked in itertools.product(*choices.values()):
            values = {**fixed, **dict(zip(choices, picked, strict=True))}
            _domain, path = rule.build(values, append_unknown=False)
            segment = path.rstrip("/").rsplit("/", 1)[-1] if choices else \
                rule.rule.rstrip("/").rsplit("/", 1)[-1]
            for method in sorted(rule.methods - NOT_WALKED):
                walked.append((method, path, segment))
                if method == "GET":
                    walked.append((method, f"{path}?q={world.search}", segment))
    return walked


def snapshot(app) -> dict[str, list]:
    """Every row of every table (login failures aside), to show that nothing was
    written, changed or deleted."""
    with app.app_context():
        found = {}
        for table in db.metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in IGNORED_COLUMNS]
            query = select(*columns).order_by(*table.primary_key.columns)
            if table.name == AuditEvent.__tablename__:
                query = query.where(table.c.action != "account.login_failed")
            found[table.name] = [tuple(row) for row in db.session.execute(query)]
        return found


def secrets_for(world, visitor: Who | None) -> list[str]:
    """Everything about other people the visitor must not see."""
    others = [p for p in [*world.people.values(), *world.strangers]
              if visitor is None or p.id != visitor.id]
    own_family = visitor.family if visitor else None
    return ([s for p in others for s in p.revealing()] + [REASON, GATEWAY_ERROR]
            + [n for n in world.family_names if n != own_family])


def call(client, method: str, url: str, segment: str, *, csrf: str | None = None,
         bearer: str | None = None):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if url.startswith(API_PREFIX):
        if csrf:
            headers["X-CSRFToken"] = csrf
        body = API_BODIES.get(segment, {}) if method != "GET" else None
        return client.open(url, method=method, json=body, headers=headers)
    data = {**FORM, "csrf_token": csrf} if method != "GET" else None
    return client.open(url, method=method, data=data, headers=headers)


def check_refused(response, *, method: str, url: str, anonymous: bool, secrets: list[str]):
    where = f"{method} {url}"
    assert response.status_code != 200, where
    if url.startswith(API_PREFIX):
        status, code = (401, "unauthorized") if anonymous else (403, "staff_only")
        assert response.status_code == status, (where, response.get_data(as_text=True))
        assert response.get_json()["error"]["code"] == code, where
    elif anonymous:
        assert response.status_code in (302, 303), where
        assert urlsplit(response.headers["Location"]).path == "/account/login", where
    else:
        assert response.status_code == 403, (where, response.get_data(as_text=True)[:500])
    text = shown(response)
    leaked = [s for s in secrets if s in text]
    assert not leaked, f"{where} shows {leaked}"


def csrf_of(client, *, signed_in: bool) -> str:
    page = "/" if signed_in else "/account/login"
    return csrf_from(client.get(page).get_data(as_text=True))


def test_anonymous_visitor_is_sent_to_login_or_gets_401(app, world):
    client = app.test_client()
    token = csrf_of(client, signed_in=False)  # the refusal is the guard, not CSRF
    before = snapshot(app)
    walked = requests_of(app, world)
    for method, url, segment in walked:
        response = call(client, method, url, segment, csrf=token)
        check_refused(response, method=method, url=url, anonymous=True,
                      secrets=secrets_for(world, None))
    assert snapshot(app) == before
    assert {m for m, _u, _s in walked} >= {"GET", "POST"}


@pytest.mark.parametrize("key", ["admin", "caregiver", "patient"])
def test_family_members_get_403_everywhere(app, world, key):
    visitor = world.people[key]
    browser = log_in(app, visitor)
    token = csrf_of(browser, signed_in=True)
    bearer = app.test_client()
    bearer.get("/api/v1/me", headers={"Authorization": f"Bearer {visitor.token}"})
    secrets = secrets_for(world, visitor)
    before = snapshot(app)
    for method, url, segment in requests_of(app, world):
        # the browser session, with a valid CSRF token so that the guard is what refuses
        check_refused(call(browser, method, url, segment, csrf=token), method=method,
                      url=url, anonymous=False, secrets=secrets)
        if url.startswith(API_PREFIX):
            check_refused(call(bearer, method, url, segment, bearer=visitor.token),
                          method=method, url=url, anonymous=False, secrets=secrets)
    assert snapshot(app) == before


def test_staff_walk_the_same_routes(app, world):
    """Sanity: the walk reaches working routes — staff get no 401/403, no login page and
    no server error, on the pages and on the API (session and bearer)."""
    staff = world.people["staff"]
    browser = log_in(app, staff)
    token = csrf_of(browser, signed_in=True)
    for kind in ("groups", "users"):  # the reason step first, so the pages open (issue 21)
        object_id = world.params["group_id" if kind == "groups" else "user_id"]
        assert browser.post(f"/staff/{kind}/{object_id}/reason", data={
            **FORM, "csrf_token": token}).status_code == 303
    bearer = app.test_client()
    seen = []
    for method, url, segment in requests_of(app, world):
        answers = [call(browser, method, url, segment, csrf=token)]
        if url.startswith(API_PREFIX):
            answers.append(call(bearer, method, url, segment, bearer=staff.token))
        for response in answers:
            where = (method, url, response.status_code, shown(response)[:300])
            assert response.status_code < 500, where
            assert response.status_code not in (401, 403), where
            if response.status_code in (301, 302, 303, 307, 308):
                assert urlsplit(response.headers["Location"]).path != "/account/login", where
            seen.append(shown(response))
    # the data the other walks looked for is really there for staff: had a guard let a
    # member through, the secrets checks would have caught it
    text = "\n".join(seen)
    for secret in (world.people["caregiver"].name, world.strangers[0].phone, REASON,
                   GATEWAY_ERROR, world.family_names[-1]):
        assert secret in text, secret
