"""BR-040 / BR-056 end to end: a silent disconnect and its restore, done on the pages by
the admin and by the patient, write no outbox row, and the worker then sends nothing to
a real SMTP server and a real SMS gateway on 127.0.0.1 — while a removal, which is not
silent, does reach them (so the pipe is proven to work)."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import func, select

from app.extensions import db
from app.membership.services import member_remove
from app.models.accounts import User
from app.models.connections import Connection
from app.models.groups import FamilyGroup
from app.models.notifications import InviteNotification
from tests.conftest import log_in, person_of
from tests.factories import make_user
from tests.notifications.test_delivery import deliver
from tests.pages import csrf_from
from tests.service_helpers import admin_group, connection_between, join, permission_map


def outbox_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(InviteNotification))


def _family(app) -> SimpleNamespace:
    with app.app_context():
        admin, _sub, group = admin_group(locale="en", email="admin@family.test")
        patient = join(group, role="patient", locale="en", email="patient@family.test")
        # One caregiver is reached by email, the other by SMS.
        by_email = join(group, make_user(locale="en", email="daughter@family.test"),
                        role="caregiver")
        by_sms = join(group, role="caregiver", locale="en")
        db.session.commit()
        return SimpleNamespace(
            group_id=group.id, admin=person_of(admin), patient=person_of(patient),
            by_email=person_of(by_email), by_sms=person_of(by_sms),
            cids=[connection_between(patient, c).id for c in (by_email, by_sms)])


def _post(client, url: str, **data):
    token = csrf_from(client.get("/followers").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def test_br056_silent_disconnect_and_restore_send_nothing_to_smtp_or_sms(
        app, use_smtp, use_gateway):
    fam = _family(app)
    deliver(app)  # the join messages go out first
    assert use_smtp.messages, "the SMTP server is reachable"
    use_smtp.messages.clear()
    use_gateway.requests.clear()
    before = outbox_rows(app)
    admin, patient = log_in(app, fam.admin), log_in(app, fam.patient)

    for cid in fam.cids:
        assert _post(admin, f"/connections/{cid}/disconnect", reason="private",
                     back="group").status_code == 303
        assert _post(admin, f"/connections/{cid}/restore", back="group").status_code == 303
        assert _post(patient, f"/connections/{cid}/disconnect",
                     back="followers").status_code == 303
        assert _post(patient, f"/connections/{cid}/restore",
                     back="followers").status_code == 303
    for caregiver in (fam.by_email, fam.by_sms):
        base = f"/family/{fam.group_id}/caregivers/{caregiver.id}"
        assert _post(admin, f"{base}/disconnect", reason="").status_code == 303
        assert _post(admin, f"{base}/restore").status_code == 303

    assert outbox_rows(app) == before
    sent = deliver(app)
    assert use_smtp.messages == []
    assert use_gateway.requests == []
    assert not any(sent.values()), sent
    with app.app_context():
        for cid in fam.cids:
            connection = db.session.get(Connection, cid)
            assert connection.permission_revoked is False
            assert all(permission_map(connection).values())

    # A removal is not silent: the same pipe carries it to the removed caregiver.
    with app.app_context():
        member_remove(actor=db.session.get(User, fam.admin.id),
                      group=db.session.get(FamilyGroup, fam.group_id),
                      user_id=fam.by_email.id, role="caregiver")
        db.session.commit()
    deliver(app)
    assert [m.rcpt_tos for m in use_smtp.messages] == [["daughter@family.test"]]
