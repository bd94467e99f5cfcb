"""Every API operation that reads a JSON body or query arguments, fed raw garbage by
Hypothesis (issue 7, point 3): objects with the documented keys holding any type, huge
strings, unicode, null, arrays and scalars instead of objects, JSON nested thousands deep,
bytes that are not JSON or not UTF-8, the wrong Content-Type or none, and query arguments
absent, repeated or holding any text. The answer is a 2xx or a 4xx, never a 5xx; a 4xx is
{"error": {"code", "message"}} and leaves every table's row count as it was.

tests/api/test_schemathesis.py already explores the documented shapes from the OpenAPI
document; this file covers the raw side it does not. The operations come from that
document (app/api/openapi.py, built from each route's @operation): one with a body or a
query argument that OPERATIONS does not list fails test_every_operation_is_listed. Each is
called with the bearer token of its rightful user, on real rows of a world seeded once per
operation (tests/security/strategies.py); examples share that world and must not depend
on each other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from app.api.openapi import openapi_document
from app.extensions import db, limiter
from tests.security.strategies import (
    LEAKS,
    ErrorLog,
    RawBody,
    World,
    deep,
    errors_logged,
    property_settings,
    query_values,
    raw_bodies,
    row_counts,
    seed_world,
    texts,
)

EXAMPLES = 12  # per operation, in CI; HYPOTHESIS_EXAMPLES raises it


@dataclass(frozen=True)
class Call:
    """Who calls an operation (None: nobody, a public route) and its path arguments,
    from the world; `audited`: tables a refusal may still write."""

    who: str | None
    path: Callable[[World], dict[str, object]] = lambda w: {}
    audited: frozenset[str] = field(default_factory=frozenset)


def family(**more: str) -> Callable[[World], dict[str, object]]:
    return lambda w: {"group_id": w.ids["family"], **{k: w.ids[v] for k, v in more.items()}}


def ids(**names: str) -> Callable[[World], dict[str, object]]:
    return lambda w: {k: w.ids[v] for k, v in names.items()}


OPERATIONS: dict[str, Call] = {
    "auth_register": Call(None),
    "auth_register_verify": Call(None),
    "auth_password_reset": Call(None),
    "auth_password_reset_confirm": Call(None),
    "me_phone_verification": Call("unproved"),
    # proved e-mail (issue 21): a valid address sends a link, then the pace refuses (429)
    "me_email": Call("admin"),
    "me_email_resend": Call("admin"),
    "auth_email_prove": Call(None),
    "me_deletion": Call("caregiver"),
    "me_confirmation_code": Call("admin"),
    # a fuzzed password or code never matches: 422; an empty body too
    "me_data_export": Call("admin"),
    # the first valid call disconnects every follower; the next ones: nothing_to_withdraw
    "consent_withdrawal": Call("patient"),
    "family_hand_over": Call("admin", family()),  # a fuzzed password or code never matches: refused
    "me_phone_verification_confirm": Call("unproved"),
    "auth_token": Call(None, audited=frozenset({"audit_events"})),  # a failed login's event
    "connection_permissions": Call("admin", ids(connection_id="connection")),
    "connection_relationship": Call("caregiver", ids(connection_id="connection")),
    "connection_reconnect": Call("admin", ids(connection_id="revoked")),
    "connection_disconnect": Call("admin", ids(connection_id="connection")),
    "family_create": Call("newcomer"),
    "family_list": Call("staff"),
    "family_rename": Call("admin", family()),
    "family_audit": Call("admin", family()),
    "family_caregiver_restore": Call("admin", family(caregiver_id="gone")),
    "family_caregiver_revoke": Call("admin", family(caregiver_id="caregiver")),
    "family_invite": Call("admin", family()),
    "family_invites": Call("admin", family()),
    "invite_accept_id": Call("invitee", ids(invite_id="invite")),
    "invite_reject_id": Call("invitee", ids(invite_id="invite")),
    "invite_resend_link": Call("admin", ids(invite_id="stranger_invite")),
    "invite_accept_token": Call("invitee"),
    "notifications": Call("admin"),
    "reports_list": Call("caregiver", ids(patient_id="patient")),
    # A fuzzed authenticator code never matches: refused, and its failure audited on purpose.
    "staff_codes": Call("staff", audited=frozenset({"audit_events"})),
    "staff_resend": Call("staff", ids(notification_id="notification"),
                         audited=frozenset({"audit_events"})),
    "staff_review": Call("staff", lambda w: {"signal": "caregiver_many_patients",
                                             "key": w.ids["caregiver"]}),
    "staff_users": Call("staff"),
    "staff_user": Call("staff", ids(user_id="victim")),  # ?reason=&reasonText= (issue 21)
    # Staff read a family or a person through the spec's routes with a reason (issue 21).
    "family_get": Call("staff", family()),
    "family_connections": Call("staff", family()),
    "user_families": Call("staff", ids(user_id="victim")),
    "staff_account": Call("staff", lambda w: {"user_id": w.ids["victim"],
                                              "action": "suspend"},
                          audited=frozenset({"audit_events"})),
    "subscription_redeem_code": Call("newcomer"),
    "user_get": Call("admin", ids(user_id="admin")),
    "user_family_add": Call("admin", family(user_id="admin")),
    "user_family_remove": Call("admin", family(user_id="patient")),
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the document's, /api/v1 included, with {arguments}
    body: dict | None  # the requestBody's schema
    query: tuple[str, ...]


def operations(app) -> dict[str, Operation]:
    """The document's operations that read a body or query arguments, by operationId."""
    with app.app_context():
        document = openapi_document(app)
    prefix = document["servers"][0]["url"]
    found = {}
    for path, item in document["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            query = tuple(p["name"] for p in op["parameters"] if p["in"] == "query")
            if body or query:
                found[op["operationId"]] = Operation(method.upper(), prefix + path,
                                                     body.get("schema"), query)
    return found


def test_every_operation_is_listed(app):
    """Every operation with a body or query arguments has a caller here, and no more."""
    documented = set(operations(app))
    assert documented == set(OPERATIONS), (
        f"not listed: {sorted(documented - set(OPERATIONS))}; "
        f"gone: {sorted(set(OPERATIONS) - documented)}")


@dataclass(frozen=True)
class Request:
    body: RawBody | None
    query: tuple[tuple[str, str], ...]

    def summary(self) -> str:
        shown = [(k, v if len(v) < 60 else f"{v[:15]!r}…({len(v)} chars)")
                 for k, v in self.query]
        return f"query={shown} body={self.body.summary() if self.body else None}"


def requests(op: Operation) -> st.SearchStrategy[Request]:
    names = st.sampled_from(op.query) if op.query else st.text(max_size=5)
    query = st.tuples(
        st.tuples(*(query_values().map(lambda vs, n=name: [(n, v) for v in vs])
                    for name in op.query)),
        st.lists(st.tuples(st.one_of(names, st.text(max_size=8)), texts()), max_size=2))
    body = raw_bodies(op.body) if op.body is not None else st.none()
    return st.builds(
        lambda b, q: Request(b, tuple(p for ps in q[0] for p in ps) + tuple(q[1])),
        body, query)


def check_answer(app, response, before: dict[str, int], call: Call, errors: ErrorLog,
                 sent: str) -> None:
    status = response.status_code
    assert status < 500, f"{status} for {sent}\n" + "\n".join(errors.records[-1:])
    assert 200 <= status < 300 or 400 <= status < 500, (status, sent)
    text = response.get_data(as_text=True)
    leaked = [leak for leak in LEAKS if leak in text]
    assert not leaked, f"{leaked} in the answer to {sent}"
    if status >= 400:
        error = (response.get_json(silent=True) or {}).get("error")
        assert isinstance(error, dict), f"{status} without an error object: {text[:200]}"
        assert isinstance(error.get("code"), str), (error, sent)
        assert error["code"], (error, sent)
        assert isinstance(error.get("message"), str), (error, sent)
        assert error["message"], (error, sent)
        with app.app_context():
            after = row_counts()
        changed = {t: (before[t], after[t]) for t in before
                   if before[t] != after[t] and t not in call.audited}
        assert not changed, f"a {status} refusal wrote rows {changed}: {sent}"


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_an_operation_answers_any_input_with_a_2xx_or_a_4xx(app, monkeypatch, operation_id):
    """Whatever the body and the query hold: 2xx or 4xx, a 4xx with the error object and
    no row written."""
    call = OPERATIONS[operation_id]
    op = operations(app)[operation_id]
    # register and token are called hundreds of times: their limit has its own tests.
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "100000 per minute")
    with app.app_context():
        world = seed_world()
        db.session.remove()
    url = op.path.format(**call.path(world))
    headers = {"Authorization": f"Bearer {world.api[call.who]}"} if call.who else {}
    client = app.test_client()

    answers: Counter[int] = Counter()

    @property_settings(EXAMPLES)
    @given(requests(op))
    def call_with_anything(request):
        limiter.reset()
        with app.app_context():
            before = row_counts()
        sent_headers = dict(headers)
        if request.body is not None and request.body.content_type is not None:
            sent_headers["Content-Type"] = request.body.content_type
        response = client.open(url, method=op.method, headers=sent_headers,
                               data=request.body.data if request.body else None,
                               query_string=MultiDict(list(request.query)))
        check_answer(app, response, before, call, error_log,
                     f"{op.method} {url} {request.summary()}")
        answers[response.status_code] += 1

    with errors_logged() as error_log:
        call_with_anything()
    print(f"\n{operation_id}: {answers.total()} examples, answers {dict(sorted(answers.items()))}")


# --- what the properties found (each failed before its fix) ---------------------------


@pytest.mark.parametrize("body", [deep(100_000), b'{"a":' * 50_000])
def test_json_nested_past_the_recursion_limit_is_a_422(app, body):
    """Python's json module raises RecursionError, not ValueError, on deep nesting: it went
    past get_json(silent=True) and answered 500."""
    with app.app_context():
        world = seed_world()
    response = app.test_client().post(
        "/api/v1/families", data=body, content_type="application/json",
        headers={"Authorization": f"Bearer {world.api['newcomer']}"})
    assert response.status_code == 422, response.status_code
    assert response.get_json()["error"]["code"] == "invalid"
