"""schemathesis drives the live API from its OpenAPI document (issue 6, docs/api.md).

A real HTTP server on 127.0.0.1 serves an app on its own fresh database, seeded with a
family and everyone around it; schemathesis (settings in /schemathesis.toml) sends
positive and negative cases to every operation with bearer tokens and checks that no
answer is a server error, that every status, content type and body is the document's,
and that malformed input is refused with a 4xx.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
import schemathesis.engine
from flask_migrate import upgrade
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, StopReason, events
from sqlalchemy import select, update
from werkzeug.serving import WSGIRequestHandler, make_server

from app.accounts.services import api_token_create
from app.extensions import db, limiter
from app.invites.services import invite_create
from app.models.accounts import User
from app.models.connections import Connection
from app.models.groups import FamilyGroup
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.reports import PatientReport
from tests.conftest import make_app
from tests.factories import (
    make_connection,
    make_group,
    make_member,
    make_subscription,
    make_user,
    next_phone,
)

CONFIG_FILE = Path(__file__).resolve().parents[2] / "schemathesis.toml"
# Every operation's fuzzing and coverage cases together; the settings aim at a few hundred.
MAX_CASES = 800


def seed() -> dict[str, str]:
    """The world of schemathesis.toml, ids in the order the file says; the tokens by role."""
    admin = make_user(name="Admin Một", phone="+84900000001")
    patients = [make_user(name="Bệnh nhân Hai", gender=1, phone="+84900000002"),
                make_user(name="Bệnh nhân Ba")]
    caregiver = make_user(name="Người chăm Bốn")
    staff = make_user(name="Nhân viên Năm", is_staff=True)
    invitee = make_user(name="Khách Sáu")
    dissolver = make_user(name="Admin Bảy")
    victim = make_user(name="Tài khoản Tám")
    family = make_group(admin, subscription=make_subscription(admin, patients=2, caregivers=4))
    make_group(dissolver, name="Gia đình giải tán")
    for patient in patients:
        make_member(family, patient, role="patient")
    for follower in (admin, caregiver):
        make_member(family, follower, role="caregiver")
    connections = [make_connection(p, c, group=family) for p in patients
                   for c in (admin, caregiver)]
    reports = [PatientReport(patient_id=patient.id, period=f"2026-1{n}",
                             summary="Huyết áp ổn định.")
               for n, patient in enumerate((patients[0], patients[0], patients[1]))]
    db.session.add_all(reports)
    invites = [invite_create(actor=admin, group=family, phone=phone, role="caregiver")
               for phone in (invitee.phone, next_phone())]
    db.session.flush()
    failed = db.session.execute(
        update(InviteNotification).where(InviteNotification.channel == "sms")
        .values(status="failed", retry_count=3, error="gateway down")).rowcount
    assert failed, "no SMS in the outbox for staff to resend"
    ids = {"users": [u.id for u in (admin, *patients, caregiver, staff, invitee, dissolver,
                                    victim)],
           "groups": list(db.session.scalars(select(FamilyGroup.id).order_by(FamilyGroup.id))),
           "connections": [c.id for c in connections],
           "invites": [i.invite.id for i in invites], "reports": [r.id for r in reports]}
    assert ids == {"users": list(range(1, 9)), "groups": [1, 2], "connections": [1, 2, 3, 4],
                   "invites": [1, 2], "reports": [1, 2, 3]}, (
        f"schemathesis.toml names other ids: {ids}")
    assert db.session.get(ConnectionInvite, 1).receiver_phone == invitee.phone
    assert db.session.get(Connection, 1).user_id == patients[0].id
    tokens = {role: api_token_create(user=user, name="schemathesis", mfa=user.staff_role)
              for role, user in (
        ("ADMIN", admin), ("STAFF", staff), ("DISSOLVER", dissolver), ("INVITEE", invitee),
        ("PATIENT", patients[0]), ("REVOKER", caregiver))}
    assert db.session.get(User, victim.id).is_active
    db.session.commit()
    return tokens


class QuietHandler(WSGIRequestHandler):
    """No access-log line per request: a run makes several hundred."""

    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture(scope="module")
def live_api(fresh_database_url):
    """The base URL of a live server on 127.0.0.1 and the tokens of the seeded people."""
    app = make_app(fresh_database_url(), keep=True,
                   LOGIN_RATE_LIMIT="1000 per minute")  # register and token get explored
    with app.app_context():
        upgrade()
        tokens = seed()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", tokens
    server.shutdown()
    thread.join()
    with app.app_context():
        db.engine.dispose()
    limiter.reset()  # the limiter's memory is the process's; the next test starts clean


def test_api_conforms(live_api, monkeypatch):
    """The whole run (every phase of schemathesis.toml, as its CLI would run it) passes."""
    base, tokens = live_api
    for role, token in tokens.items():
        monkeypatch.setenv(f"FC_{role}_TOKEN", token)
    config = SchemathesisConfig.from_path(CONFIG_FILE)  # the ${FC_…} are read here
    schema = schemathesis.openapi.from_url(
        f"{base}/api/v1/openapi.json", config=config,
        headers={"Authorization": f"Bearer {tokens['ADMIN']}"})
    schema.config.update(base_url=f"{base}/api/v1")
    started = time.monotonic()
    cases: Counter[str] = Counter()
    checks_run: Counter[str] = Counter()
    answered: Counter[int] = Counter()
    succeeded: Counter[str] = Counter()
    operations, problems, stop = set(), [], None
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            cases[event.phase.name.lower()] += len(recorder.cases)
            operations.add(recorder.label)
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    answered[interaction.response.status_code] += 1
                    succeeded.update([recorder.label] * (interaction.response.status_code < 300))
            for case_id, checks in recorder.checks.items():
                checks_run.update(check.name for check in checks)
                problems += [f"{recorder.label} [{event.phase.name}] {check.name}: "
                             f"{_failure(recorder, case_id, check)}"
                             for check in checks if check.status != Status.SUCCESS]
        elif isinstance(event, events.NonFatalError | events.FatalError):
            problems.append(f"error: {getattr(event, 'label', '')} "
                            f"{getattr(event, 'value', getattr(event, 'exception', None))!r}")
        elif isinstance(event, events.EngineFinished):
            stop = event.stop_reason
    print(f"\nschemathesis ({os.environ.get('TEST_DATABASE', 'sqlite')}): "
          f"{cases.total()} cases {dict(cases)}, {len(operations)} operations, "
          f"{time.monotonic() - started:.1f} s; checks run: {dict(checks_run)}; "
          f"answers: {dict(sorted(answered.items()))}; operations with a 2xx: "
          f"{len(succeeded)}; none: {sorted(operations - set(succeeded))}")
    assert not problems, "\n".join(problems[:50])
    assert stop == StopReason.COMPLETED, stop
    # Every operation but GET /openapi.json, which schemathesis leaves out: it is the
    # document it loaded (tests/api/test_openapi.py covers it).
    documented = {f"{m.upper()} {path}" for path, item in schema.raw_schema["paths"].items()
                  for m in item}
    assert operations == documented - {"GET /openapi.json"}
    assert {"not_a_server_error", "status_code_conformance", "content_type_conformance",
            "response_schema_conformance", "negative_data_rejection"} <= set(checks_run)
    assert 200 <= cases.total() <= MAX_CASES, cases


def _failure(recorder, case_id: str, check) -> str:
    case = recorder.cases[case_id].value
    response = recorder.find_response(case_id=case_id)
    info = check.failure_info
    title = info.failure.title if info else ""
    message = info.failure.message if info else ""
    answer = f"{response.status_code} {response.text[:200]}" if response is not None else ""
    return (f"{title} {message[:300]}\n    {case.method} {case.formatted_path} "
            f"query={case.query} body={str(case.body)[:200]} → {answer}")
