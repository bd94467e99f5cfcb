"""Issue 7, item 3: the authorization matrix. Every object route of the URL map (a URL
naming a group, user, connection, invite, report, notification, signal or token), every
method, × {anonymous, other group's admin, caregiver of another group, patient of another
group, staff}, filled with family A's real ids (tests/security/matrix.py seeds the world).

Each cell asserts the status written in MATRIX below — one value, never "either" — that
the answer shows none of family A's data (names, phones, email, family name, report,
private reason, gateway error), and that no row was written, changed or deleted (staff's
audited looks aside: SPEC §1 wants every staff look at a group recorded). Each route also
has a positive control: its rightful user gets the answer written beside it, so a 404 in
the matrix is a refusal, not a broken URL. A completeness test fails when an object route
of the URL map is missing from MATRIX. Beside the matrix: the refused form posts again as
htmx sends them, and MIXED — routes naming two objects, filled with the outsider's own
family or patient and one of family A's.

How the app refuses, as the cells write it:
- LOGIN: a page behind login redirects a visitor to the login page; API routes answer 401.
- "/path": a 303 to that page (the invite link's own log-in page).
- 404: the object is not shown to this user, whether or not it exists (families,
  connections, invites: SPEC §7 "answers 404 or 403 without revealing whether it exists").
- 403: the user may see the object, or the route is a role's (staff pages, staff API), or
  the rule is a permission (reports: SEC-001/002 "403 and the block is not rendered").
- R404 / R403: a form post that a service refuses is answered as every such refusal in
  the portal (app/pages.py refused): a plain (no-JavaScript) post gets 303 back with the
  message as an error flash; the same post from htmx gets the 404 or 403 (both walked).

Staff (SPEC §1) review: they read a family's page, its API reads (family, connections,
audit, invites), a user through the API and every /staff route — and each such read
leaves its staff.* audit row (checked); they never act in a family (rename, dissolve,
invite, remove, toggle, disconnect: the admin's or the patient's) nor read a patient's
reports or a connection's history (the family's audit trail is theirs instead).

Capability URLs: an invite link (/i/<token>) is the invitation — logged out it shows who
invites, to which family and as what (SPEC §4), so that cell allows the admin's name and
the family's name; a logged-in user with another phone gets 403. A claim link is the
imported account's credential (SPEC §8), an email link the proof of an address (issue 21):
outsiders are walked with a forged token.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from sqlalchemy import select
from werkzeug.routing import AnyConverter

from app.extensions import db
from app.models.audit import AuditEvent
from tests.security.matrix import (
    R403,
    R404,
    STAFF_NO_CONTROL,
    STAFF_ONLY,
    Refused,
    Route,
    ask,
    check_cell,
    check_status,
    flashes,
    new_world,
    shown,
)

OUTSIDERS = ("anonymous", "admin_b", "caregiver_b", "patient_b", "staff")
# Not object routes: no object in the URL (the rule has no argument), or static files.
NOT_OBJECT_ROUTES = {"static"}
NOT_WALKED = {"HEAD", "OPTIONS"}  # answered by Flask from GET / the rule


G = {"group_id": "group"}
C = {"connection_id": "connection"}
CR = {"connection_id": "revoked"}
INV = {"invite_id": "invite"}
REPORTS = {"patient_id": "patient_a"}
ROLE = {"role": "caregiver"}
REASON = {"reason": "matrix"}
ACCESS = {"reason": "support"}  # why staff open a family, a file or an export (issue 21)
TOKEN = {"token_id": "api_token"}  # admin_a's API token


def _invite_phone(world) -> dict:
    return {"phone": world.people["free_a"].phone, "role": "caregiver"}


MATRIX: list[Route] = [
    # --- the family page and the admin's actions (app/membership/views.py) -----------------
    # Staff are sent to the staff review, which asks why first (issue 21).
    Route("GET", "/family/<int:group_id>", G, "admin_a", 200, 404, 303),
    Route("GET", "/family/<int:group_id>/slots/<any(patient, caregiver):role>",
          {**G, "role": "caregiver"}, "admin_a", 200, 404, 200, htmx=True, quiet=True),
    Route("POST", "/family/<int:group_id>/rename", G, "admin_a", 303, 404, R403,
          body={"name": "Tên mới Zq"}),
    Route("POST", "/family/<int:group_id>/self-add", G, "admin_a", 303, 404, R403,
          body={"role": "patient", "relationship": ""}),
    Route("GET", "/family/<int:group_id>/dissolve", G, "admin_a", 200, 404, 403),
    Route("POST", "/family/<int:group_id>/dissolve", G, "admin_a", 303, 404, R403),
    # Handing the family over (issue 19): an empty choice is the admin's 422.
    Route("GET", "/family/<int:group_id>/hand-over", G, "admin_a", 200, 404, 403),
    Route("POST", "/family/<int:group_id>/hand-over", G, "admin_a", 422, 404, R403, body={}),
    Route("GET", "/family/<int:group_id>/members/<int:user_id>/remove",
          {**G, "user_id": "caregiver_a2"}, "admin_a", 200, 404, 403, query="role=caregiver"),
    Route("POST", "/family/<int:group_id>/members/<int:user_id>/remove",
          {**G, "user_id": "caregiver_a2"}, "admin_a", 303, 404, R403, body=ROLE),
    Route("GET", "/family/<int:group_id>/leave", G, "caregiver_a", 200, 404, 404,
          query="role=caregiver"),
    Route("POST", "/family/<int:group_id>/leave", G, "caregiver_a", 303, 404, R404,
          body=ROLE),
    # --- the account's API tokens (app/accounts/token_views.py): the owner's alone; any
    # other user, staff included, gets 404 whether the token exists or not ------------
    Route("POST", "/account/tokens/<int:token_id>/revoke", TOKEN, "admin_a", 303, 404, 404),
    Route("POST", "/account/tokens/<int:token_id>/revoke", TOKEN, "admin_a", 200, 404, 404,
          htmx=True),
    # --- invites, the admin's side (app/invites/admin_views.py) ------------------------
    Route("GET", "/family/<int:group_id>/invites", G, "admin_a", 200, 404, 404),
    Route("POST", "/family/<int:group_id>/invites", G, "admin_a", 201, 404, 404,
          body=_invite_phone),
    Route("POST", "/invites/<int:invite_id>/cancel", INV, "admin_a", 303, 404, 404),
    Route("POST", "/invites/<int:invite_id>/resend", INV, "admin_a", 200, 404, 404),
    # --- invites, the invitee's side (app/invites/views.py) ----------------------------
    Route("POST", "/invites/<int:invite_id>/accept", INV, "invitee_a", 303, 404, 404,
          body={"relationship": ""}),
    Route("POST", "/invites/<int:invite_id>/reject", INV, "invitee_a", 303, 404, 404),
    # The link is the invitation (SPEC §4): logged out, it shows who invites, to which
    # family and as what; a logged-in user whose phone differs is refused.
    Route("GET", "/i/<token>", {"token": "invite_token"}, "invitee_a", 200, 403, 403,
          anonymous=200, shows=("admin_a", "group_name")),
    # The link page's answers carry the token in the body, not the URL: the same objects
    # and the same rule (a visitor is sent to the link's own log-in page).
    Route("POST", "/i/accept", {}, "invitee_a", 303, 403, 403, anonymous="/i/login",
          body=lambda w: {"token": w.ids["invite_token"], "relationship": ""}),
    Route("POST", "/i/reject", {}, "invitee_a", 303, 403, 403, anonymous="/i/login",
          body=lambda w: {"token": w.ids["invite_token"]}),
    # The claim link is the imported account's credential (SPEC §8): whoever holds it
    # sets the password. Outsiders hold a forged token of the same shape.
    Route("GET", "/claim/<token>", {"token": "claim_token"}, "anonymous", 200, 404, 404,
          anonymous=404, forged=True),
    Route("POST", "/claim/<token>", {"token": "claim_token"}, "anonymous", 303, 404, 404,
          anonymous=404, forged=True, body={"password": "Zq-matkhau-moi-2026"}),
    # The email link is the proof that it reached the address (issue 21): whoever holds it
    # proves the address, logged in or not. Outsiders hold a forged token of the same shape.
    Route("GET", "/email/<token>", {"token": "email_token"}, "anonymous", 200, 404, 404,
          anonymous=404, forged=True),
    Route("POST", "/email/<token>", {"token": "email_token"}, "anonymous", 200, 404, 404,
          anonymous=404, forged=True),
    # --- connection controls (app/connections/views.py, disconnect_views.py) ------------
    # The switch alone names nobody: its name comes from the page's headers (aria-labelledby).
    Route("GET", "/connections/<int:connection_id>/permissions/<code>",
          {**C, "code": "health_overview"}, "admin_a", 200, 404, STAFF_NO_CONTROL, htmx=True,
          quiet=True),
    Route("POST", "/connections/<int:connection_id>/permissions/<code>",
          {**C, "code": "health_overview"}, "admin_a", 303, R404, R403,
          body={"enabled": "off", "confirmed": "1"}),
    # A switch of the matrix names its connection in the body: the same rule.
    Route("POST", "/switch", {}, "admin_a", 303, R404, R403,
          body=lambda w: {"set": f"{w.ids['connection']} health_overview off",
                          "confirmed": "1"}),
    Route("GET", "/connections/<int:connection_id>/disconnect", C, "admin_a", 200, 404,
          STAFF_NO_CONTROL),
    Route("POST", "/connections/<int:connection_id>/disconnect", C, "admin_a", 303, R404,
          R403, body=REASON),
    Route("GET", "/connections/<int:connection_id>/restore", CR, "admin_a", 200, 404,
          STAFF_NO_CONTROL),
    Route("POST", "/connections/<int:connection_id>/restore", CR, "admin_a", 303, R404,
          R403),
    Route("GET", "/connections/<int:connection_id>/history", C, "admin_a", 200, 404, 404),
    Route("GET", "/family/<int:group_id>/caregivers/<int:user_id>/disconnect",
          {**G, "user_id": "caregiver_a"}, "admin_a", 200, 404, 403),
    Route("POST", "/family/<int:group_id>/caregivers/<int:user_id>/disconnect",
          {**G, "user_id": "caregiver_a"}, "admin_a", 303, R404, R403, body=REASON),
    Route("POST", "/family/<int:group_id>/caregivers/<int:user_id>/restore",
          {**G, "user_id": "caregiver_a2"}, "admin_a", 303, R404, R403),
    # --- the caregiver's pages (app/care/views.py) -------------------------------------
    Route("GET", "/following/<int:patient_id>", REPORTS, "caregiver_a", 200, 404, 404),
    Route("GET", "/following/<int:patient_id>/reports", REPORTS, "caregiver_a", 200, 403,
          403),
    Route("GET", "/following/<int:patient_id>/reports/<int:report_id>",
          {**REPORTS, "report_id": "report"}, "caregiver_a", 200, 403, 403),
    Route("GET", "/connections/<int:connection_id>/relationship", C, "caregiver_a", 200,
          404, STAFF_NO_CONTROL),
    Route("POST", "/connections/<int:connection_id>/relationship", C, "caregiver_a", 303,
          404, STAFF_NO_CONTROL, body={"relationship": "con_gai"}),
    # --- staff pages (app/staff/*.py): staff only, whatever the object -----------------
    # Staff's client gave a reason for family A and patient A's file when it logged in
    # (tests/security/matrix.py World.client): these pages open (issue 21).
    Route("GET", "/staff/groups/<int:group_id>", G, "staff", 200, STAFF_ONLY, 200),
    Route("POST", "/staff/groups/<int:group_id>/reason", G, "staff", 303, STAFF_ONLY, 303,
          body=ACCESS),
    # GET: the export's reason step, which names the family only (as the list does).
    Route("GET", "/staff/groups/<int:group_id>/audit.csv", G, "staff", 200, STAFF_ONLY, 200,
          quiet=True),
    Route("POST", "/staff/groups/<int:group_id>/audit.csv", G, "staff", 200, STAFF_ONLY, 200,
          body=ACCESS),
    Route("GET", "/staff/users/<int:user_id>", {"user_id": "patient_a"}, "staff", 200,
          STAFF_ONLY, 200),
    Route("POST", "/staff/users/<int:user_id>/reason", {"user_id": "patient_a"}, "staff",
          303, STAFF_ONLY, 303, body=ACCESS),
    Route("POST", "/staff/users/<int:user_id>/suspend", {"user_id": "patient_a"}, "staff",
          303, STAFF_ONLY, 303, body=REASON),
    Route("POST", "/staff/users/<int:user_id>/reactivate", {"user_id": "suspended_a"},
          "staff", 303, STAFF_ONLY, 303, body=REASON),
    # Nobody but staff, with a reason, downloads someone else's data (issue 19).
    Route("POST", "/staff/users/<int:user_id>/export", {"user_id": "patient_a"}, "staff",
          200, STAFF_ONLY, 200, body=REASON),
    Route("POST", "/staff/notifications/<int:notification_id>/resend",
          {"notification_id": "notification"}, "staff", 303, STAFF_ONLY, 303, body=REASON),
    Route("GET", "/staff/queue/<signal>/<key>", {"signal": "signal", "key": "signal_key"},
          "staff", 200, STAFF_ONLY, 200),
    Route("POST", "/staff/queue/<signal>/<key>/review",
          {"signal": "signal", "key": "signal_key"}, "staff", 303, STAFF_ONLY, 303,
          body={"note": "matrix"}),
    # --- API: families (app/api/routes_families.py) ------------------------------------
    Route("GET", "/api/v1/families/<int:group_id>", G, "admin_a", 200, 404, 200),
    Route("PATCH", "/api/v1/families/<int:group_id>", G, "admin_a", 200, 404, 403,
          body={"name": "Tên mới Zq"}),
    Route("DELETE", "/api/v1/families/<int:group_id>", G, "admin_a", 204, 404, 403),
    Route("GET", "/api/v1/families/<int:group_id>/audit", G, "admin_a", 200, 404, 200),
    Route("GET", "/api/v1/families/<int:group_id>/connections", G, "admin_a", 200, 404, 200),
    Route("GET", "/api/v1/families/<int:group_id>/invites", G, "admin_a", 200, 404, 200),
    Route("POST", "/api/v1/families/<int:group_id>/invites", G, "admin_a", 201, 404, 403,
          body=_invite_phone),
    Route("PUT", "/api/v1/families/<int:group_id>/caregivers/<int:caregiver_id>/revoke",
          {**G, "caregiver_id": "caregiver_a"}, "admin_a", 200, 404, 403, body={}),
    Route("PUT", "/api/v1/families/<int:group_id>/caregivers/<int:caregiver_id>/restore",
          {**G, "caregiver_id": "caregiver_a2"}, "admin_a", 200, 404, 403, body={}),
    # --- API: invites (app/api/routes_invites.py) --------------------------------------
    Route("DELETE", "/api/v1/invites/<int:invite_id>", INV, "admin_a", 204, 404, 404),
    Route("POST", "/api/v1/invites/<int:invite_id>/resend", INV, "admin_a", 200, 404, 404,
          body={}),
    Route("POST", "/api/v1/invites/<int:invite_id>/accept", INV, "invitee_a", 200, 404, 404,
          body={}),
    Route("POST", "/api/v1/invites/<int:invite_id>/reject", INV, "invitee_a", 200, 404, 404,
          body={}),
    Route("POST", "/api/v1/invites/accept", {}, "invitee_a", 200, 403, 403,
          body=lambda w: {"token": w.ids["invite_token"]}),
    # --- API: connections (app/api/routes_connections.py) ------------------------------
    Route("GET", "/api/v1/connections/<int:connection_id>/history", C, "admin_a", 200, 404,
          404),
    Route("PUT", "/api/v1/connections/<int:connection_id>/permissions", C, "admin_a", 200,
          404, STAFF_NO_CONTROL, body={"permissions": {"health_overview": False}}),
    Route("PUT", "/api/v1/connections/<int:connection_id>/revoke", C, "admin_a", 200, 404,
          STAFF_NO_CONTROL, body={}),
    Route("PUT", "/api/v1/connections/<int:connection_id>/restore", CR, "admin_a", 200, 404,
          STAFF_NO_CONTROL, body={}),
    # caregiver_a has no plan of their own: the admin's 409 no_subscription
    Route("POST", "/api/v1/families/<int:group_id>/handover", G, "admin_a", 409, 404, 403,
          body=lambda w: {"userId": w.people["caregiver_a"].id}),
    Route("PUT", "/api/v1/connections/<int:connection_id>/relationship", C, "caregiver_a",
          200, 404, STAFF_NO_CONTROL, body={"relationship": "con_gai"}),
    # --- API: reports (SEC-001/002: 403 no_permission) ---------------------------------
    Route("GET", "/api/v1/patients/<int:patient_id>/reports", REPORTS, "caregiver_a", 200,
          403, 403),
    Route("GET", "/api/v1/patients/<int:patient_id>/reports/<int:report_id>",
          {**REPORTS, "report_id": "report"}, "caregiver_a", 200, 403, 403),
    # --- API: users (app/api/routes_users.py) ------------------------------------------
    Route("GET", "/api/v1/users/<int:user_id>", {"user_id": "patient_a"}, "admin_a", 200,
          404, 200),
    Route("GET", "/api/v1/users/<int:user_id>/families", {"user_id": "patient_a"},
          "patient_a", 200, 404, 200),
    # The admin invites by id only people they can see (a member of their family: here
    # a patient, invited as caregiver too, BR-048); anyone else is a 404.
    Route("POST", "/api/v1/users/<int:user_id>/families/<int:group_id>",
          {**G, "user_id": "patient_a"}, "admin_a", 202, 404, 403, body=ROLE),
    Route("DELETE", "/api/v1/users/<int:user_id>/families/<int:group_id>",
          {**G, "user_id": "caregiver_a2"}, "admin_a", 204, 404, 403, query="role=caregiver"),
    # --- API: staff (app/api/routes_staff.py): staff only ------------------------------
    Route("GET", "/api/v1/staff/users/<int:user_id>", {"user_id": "patient_a"}, "staff", 200,
          STAFF_ONLY, 200, query="reason=support"),
    Route("POST", "/api/v1/staff/users/<int:user_id>/<any(suspend, reactivate):action>",
          {"user_id": "patient_a", "action": "suspend"}, "staff", 200, STAFF_ONLY, 200,
          body=REASON),
    Route("POST", "/api/v1/staff/users/<int:user_id>/<any(suspend, reactivate):action>",
          {"user_id": "suspended_a", "action": "reactivate"}, "staff", 200, STAFF_ONLY, 200,
          body=REASON),
    Route("POST", "/api/v1/staff/notifications/<int:notification_id>/resend",
          {"notification_id": "notification"}, "staff", 200, STAFF_ONLY, 200, body=REASON),
    Route("POST", "/api/v1/staff/queue/<signal>/<key>/review",
          {"signal": "signal", "key": "signal_key"}, "staff", 201, STAFF_ONLY, 201,
          body={"note": "matrix"}),
]


def mixed(method: str, rule: str, fill: dict, role: str, expected, **kwargs) -> Route:
    """A cell of MIXED: `role` fills `rule` with `fill` and gets `expected`."""
    return Route(method, rule, fill, role, expected, expected, expected, **kwargs)


GB = {"group_id": "group_b"}
# Family B's people with their own family or patient in one slot, family A's object in
# the other.
MIXED: list[Route] = [
    mixed("GET", "/family/<int:group_id>/members/<int:user_id>/remove",
          {**GB, "user_id": "caregiver_a2"}, "admin_b", 404, query="role=caregiver"),
    mixed("POST", "/family/<int:group_id>/members/<int:user_id>/remove",
          {**GB, "user_id": "caregiver_a2"}, "admin_b", R404, body=ROLE),
    mixed("GET", "/family/<int:group_id>/caregivers/<int:user_id>/disconnect",
          {**GB, "user_id": "caregiver_a"}, "admin_b", 404),
    mixed("POST", "/family/<int:group_id>/caregivers/<int:user_id>/disconnect",
          {**GB, "user_id": "caregiver_a"}, "admin_b", R404, body=REASON),
    mixed("POST", "/family/<int:group_id>/caregivers/<int:user_id>/restore",
          {**GB, "user_id": "caregiver_a2"}, "admin_b", R404),
    mixed("GET", "/following/<int:patient_id>/reports/<int:report_id>",
          {"patient_id": "patient_b", "report_id": "report"}, "caregiver_b", 404),
    mixed("GET", "/following/<int:patient_id>/reports/<int:report_id>",
          {"patient_id": "patient_b", "report_id": "report"}, "patient_b", 404),
    mixed("GET", "/api/v1/patients/<int:patient_id>/reports/<int:report_id>",
          {"patient_id": "patient_b", "report_id": "report"}, "caregiver_b", 404),
    mixed("GET", "/api/v1/patients/<int:patient_id>/reports/<int:report_id>",
          {"patient_id": "patient_b", "report_id": "report"}, "patient_b", 404),
    mixed("PUT", "/api/v1/families/<int:group_id>/caregivers/<int:caregiver_id>/revoke",
          {**GB, "caregiver_id": "caregiver_a"}, "admin_b", 404, body={}),
    mixed("PUT", "/api/v1/families/<int:group_id>/caregivers/<int:caregiver_id>/restore",
          {**GB, "caregiver_id": "caregiver_a2"}, "admin_b", 404, body={}),
    mixed("POST", "/api/v1/users/<int:user_id>/families/<int:group_id>",
          {**GB, "user_id": "patient_a"}, "admin_b", 404, body=ROLE),
    mixed("DELETE", "/api/v1/users/<int:user_id>/families/<int:group_id>",
          {**GB, "user_id": "caregiver_a2"}, "admin_b", 404, query="role=caregiver"),
]


def _expected(route: Route, role: str):
    if role == "anonymous":
        return route.anonymous
    return route.staff if role == "staff" else route.other


CELLS = [(route, role) for route in MATRIX for role in OUTSIDERS]
# The form posts refused through app/pages.py refused, again as htmx sends them.
HTMX_CELLS = [(replace(route, htmx=True), role, expected) for route, role, expected in
              [(r, role, _expected(r, role)) for r, role in CELLS]
              + [(r, r.rightful, r.ok) for r in MIXED] if isinstance(expected, Refused)]


@pytest.fixture(scope="module")
def matrix_world(fresh_database_url, tmp_path_factory):
    """The module's world, in a database of its own (tests/security/matrix.py); the name
    differs from tests/security/conftest.py's per-test `world` on purpose."""
    os.environ.setdefault("INSTANCE_PATH", str(tmp_path_factory.mktemp("instance")))
    made = new_world(fresh_database_url)
    yield made
    with made.app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(("route", "role"), CELLS,
                         ids=[f"{r.label()} [{role}]" for r, role in CELLS])
def test_outsider(matrix_world, route, role):
    """One cell of the matrix."""
    check_cell(matrix_world, route, role, _expected(route, role))


@pytest.mark.parametrize(("route", "role", "expected"), HTMX_CELLS,
                         ids=[f"{r.label()} [{role}, htmx]" for r, role, _e in HTMX_CELLS])
def test_refused_form_post_from_htmx(matrix_world, route, role, expected):
    """A refused post as htmx sends it: the 404 or 403 itself, still nothing shown."""
    check_cell(matrix_world, route, role, expected)


@pytest.mark.parametrize("route", MIXED, ids=[f"{r.label()} [{r.rightful}]" for r in MIXED])
def test_own_object_beside_family_a_object(matrix_world, route):
    """A route naming two objects, the outsider's own in one place and family A's in the
    other: the check must hold for the pair, not for the first id alone."""
    check_cell(matrix_world, route, route.rightful, route.ok)


@pytest.mark.parametrize("route", MATRIX, ids=[r.label() for r in MATRIX])
def test_rightful_user(matrix_world, route):
    """The positive control: the route's own user gets through with the real object, so
    the outsiders' 403/404 above are refusals and not broken URLs."""
    world = matrix_world
    if not route.api:
        world.client(route.rightful)
    with world.watch() as watched:
        response = ask(world, route, route.rightful)
    notes = [] if route.api else flashes(world, route.rightful)
    if watched.changed or route.rightful == "anonymous":
        world.reset()  # put back what the action changed (a claim link also logs in)
    check_status(route, route.rightful, route.ok, response, notes)
    if route.method == "GET" and not route.quiet:
        # what the outsiders' cells look for is there for the rightful user
        assert any(s in shown(response) for s in world.secrets), route.label()


def test_every_object_route_is_in_the_matrix(matrix_world):
    """A new route that names an object fails here until MATRIX has its row."""
    url_map = matrix_world.app.url_map
    rules = [r for r in url_map.iter_rules()
             if r.arguments and r.endpoint not in NOT_OBJECT_ROUTES]
    walked = {(route.method, route.rule) for route in MATRIX}
    missing = sorted(f"{m} {r.rule}" for r in rules for m in r.methods - NOT_WALKED
                     if (m, r.rule) not in walked)
    assert not missing, f"object routes missing from MATRIX: {missing}"
    known = {(m, r.rule) for r in url_map.iter_rules() for m in r.methods}
    stale = sorted(f"{m} {r}" for m, r in walked - known)
    assert not stale, f"MATRIX rows that match no route: {stale}"
    # an <any(...)> argument is filled with one of its values
    for route in MATRIX:
        rule = next(r for r in url_map.iter_rules() if r.rule == route.rule)
        for name, converter in rule._converters.items():
            if isinstance(converter, AnyConverter):
                assert route.fill[name] in converter.items, route.label()


def test_staff_reading_a_user_through_the_api_is_recorded(matrix_world):
    """The matrix's staff cells found GET /api/v1/users/{id}[/families] answering staff a
    user's phone, email and families with no trace, where /staff/users/{id} records the
    same look (SPEC §1): now one staff.user_viewed row names the user and the families."""
    world, staff = matrix_world, matrix_world.people["staff"]
    patient = world.people["patient_a"]
    api = world.app.test_client()
    for path, view, families in (("?reason=legal", "api user", None),
                                 ("?expand=families&reason=legal", "api user",
                                  [world.ids["group"]]),
                                 ("/families?reason=legal", "api user families",
                                  [world.ids["group"]])):
        answer = api.get(f"/api/v1/users/{patient.id}{path}",
                         headers={"Authorization": f"Bearer {staff.token}"})
        assert answer.status_code == 200
        with world.app.app_context():
            event = db.session.scalar(select(AuditEvent).where(
                AuditEvent.action == "staff.user_viewed").order_by(AuditEvent.id.desc()))
            assert (event.actor_id, event.subject_id) == (staff.id, patient.id)
            grant = db.session.scalar(select(AuditEvent.id).where(
                AuditEvent.action == "staff.access_reason").order_by(AuditEvent.id.desc()))
            assert event.details == {"view": view, "reason_code": "legal", "grant": grant} | (
                {"families": families} if families else {})
    world.reset()
