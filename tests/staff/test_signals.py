"""The review queue's risk signals: each pattern flagged with its key and level, each
harmless near-miss not; the window and the thresholds from the configuration; reviews."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, update

from app.config import ConfigError, load_config
from app.connections.control import connection_restore, connection_revoke, permissions_set
from app.db import utcnow
from app.errors import DomainError
from app.extensions import db
from app.invites.services import invite_cancel
from app.models.audit import AuditEvent
from app.models.groups import FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.staff import StaffReview
from app.phone import display_phone
from app.staff import signals
from app.staff.services import review_mark
from tests.factories import make_connection, make_group, make_user, next_phone
from tests.service_helpers import admin_group, connection_between, invite, join, row_counts

DAY = timedelta(days=1)


@pytest.fixture
def rctx(app):
    """A request context (the flags carry links built with url_for), in English."""
    with app.test_request_context(), force_locale("en"):
        yield
        db.session.rollback()
        db.session.remove()


def flagged(signal: str) -> dict[str, signals.Flag]:
    return {flag.key: flag for flag in signals.flags(signal)}


def staff_member():
    return make_user(name="Nhân Viên", is_staff=True)


# --- builders -------------------------------------------------------------------------


def invite_row(group, phone: str, *, created=None, expires=None, status="pending"):
    """An invite row with explicit times (the service always stamps now)."""
    now = utcnow()
    row = ConnectionInvite(sender_id=group.admin_user_id, family_group_id=group.id,
                           receiver_phone=phone, invite_type="add_caregiver", status=status,
                           expires_at=expires or now + 7 * DAY, created_at=created or now)
    db.session.add(row)
    db.session.flush()
    return row


def failed_row(recipient: str, *, status="failed", created=None, user=None):
    row = InviteNotification(recipient=recipient, notification_type="MEMBER_JOINED",
                             channel="sms", status=status, retry_count=3,
                             error="SMS gateway answered HTTP 500", created_at=created or utcnow(),
                             recipient_user_id=user.id if user else None)
    db.session.add(row)
    db.session.flush()
    return row


def event_row(action: str, connection, *, at, details=None, actor=None):
    row = AuditEvent(action=action, subject_type="user_emergency_contacts",
                     subject_id=connection.id, family_group_id=connection.family_group_id,
                     created_at=at, details=details, actor_id=actor.id if actor else None)
    db.session.add(row)
    db.session.flush()
    return row


def family_with_pair():
    """An admin's family with a patient and a caregiver who joined through invites."""
    admin, _sub, group = admin_group()
    patient = join(group, role="patient", name="Bệnh Nhân")
    caregiver = join(group, name="Người Thân")
    return admin, group, connection_between(patient, caregiver), caregiver


def cycles(admin, connection, n: int):
    for _ in range(n):
        connection_revoke(actor=admin, connection_id=connection.id, reason="thử")
        connection_restore(actor=admin, connection_id=connection.id)


def set_in_turn(admin, connection, *changes: dict[str, bool]) -> None:
    """Each change through permissions_set as the group's admin, one after another."""
    for change in changes:
        permissions_set(actor=admin, connection_id=connection.id, changes=change)


# --- 1. one phone invited into many families ------------------------------------------


def test_a_phone_invited_into_three_families_is_flagged_with_the_family_count(rctx):
    phone = next_phone()
    invitee = make_user(phone=phone, name="Người Được Mời")
    for _ in range(3):
        _admin, _sub, group = admin_group()
        invite(group, phone=phone)

    flag = flagged("phone_many_groups")[phone]

    assert flag.level == 3
    assert display_phone(phone) in flag.title
    assert "3 families" in flag.title
    assert ("Người Được Mời", f"/staff/users/{invitee.id}") in flag.links


def test_a_phone_invited_again_and_again_into_one_family_is_not_flagged(rctx):
    phone = next_phone()
    admin, _sub, group = admin_group()
    for _ in range(3):  # invited, cancelled, invited again: one family
        issued = invite(group, phone=phone)
        invite_cancel(actor=admin, invite=issued.invite)
    _admin, _sub, other = admin_group()  # and one more family: two families in all
    invite(other, phone=phone)

    assert phone not in flagged("phone_many_groups")
    assert signals.current_level("phone_many_groups", phone) is None


# --- 2. a caregiver connected to many patients ----------------------------------------


def test_a_caregiver_connected_to_five_patients_is_flagged(rctx):
    caregiver = make_user(name="Người Thân")
    for _ in range(3):
        group = make_group()
        make_connection(make_user(), caregiver, group=group)
    group = make_group()
    for _ in range(2):
        make_connection(make_user(), caregiver, group=group)

    flag = flagged("caregiver_many_patients")[str(caregiver.id)]

    assert flag.level == 5
    assert "Người Thân" in flag.title
    assert "5 patients" in flag.title
    assert flag.links == [("Người Thân", f"/staff/users/{caregiver.id}")]


def test_a_caregiver_with_four_patients_is_not_flagged(rctx):
    caregiver = make_user()
    for _ in range(4):
        make_connection(make_user(), caregiver, group=make_group())

    assert str(caregiver.id) not in flagged("caregiver_many_patients")


# --- 3. proxy_execution turned on right after joining ---------------------------------


def test_proxy_execution_turned_on_right_after_joining_is_flagged(rctx):
    admin, group, connection, caregiver = family_with_pair()
    set_in_turn(admin, connection, {"proxy_execution": False}, {"proxy_execution": True})

    flag = flagged("proxy_soon_after_join")[str(connection.id)]

    assert flag.level == 1
    assert "Người Thân" in flag.title
    assert "Bệnh Nhân" in flag.title
    assert (group.name, f"/staff/groups/{group.id}") in flag.links
    assert ("Người Thân", f"/staff/users/{caregiver.id}") in flag.links


def test_proxy_execution_turned_on_three_days_after_joining_is_not_flagged(rctx):
    admin, group, connection, caregiver = family_with_pair()
    db.session.execute(update(FamilyGroupMember).where(
        FamilyGroupMember.group_id == group.id, FamilyGroupMember.user_id == caregiver.id)
        .values(joined_at=utcnow() - 3 * DAY))
    set_in_turn(admin, connection, {"proxy_execution": False}, {"proxy_execution": True})

    assert str(connection.id) not in flagged("proxy_soon_after_join")


def test_proxy_execution_turned_off_right_after_joining_is_not_flagged(rctx):
    admin, _group, connection, _caregiver = family_with_pair()
    set_in_turn(admin, connection, {"proxy_execution": False}, {"task_config": False})

    assert str(connection.id) not in flagged("proxy_soon_after_join")


def test_a_caregiver_no_longer_a_member_counts_from_the_connection_made(rctx):
    group = make_group()
    connection = make_connection(make_user(), make_user(), group=group)
    made = utcnow() - 10 * DAY
    connection.created_at = made
    on = {"permission": "proxy_execution", "from": False, "to": True}
    event_row("connection.permission_changed", connection, at=made + timedelta(hours=2),
              details=on)
    event_row("connection.permission_changed", connection, at=made + timedelta(hours=3),
              details=on)
    event_row("connection.permission_changed", connection, at=made + timedelta(hours=30),
              details=on)  # after the 24 hours: not counted

    assert flagged("proxy_soon_after_join")[str(connection.id)].level == 2


# --- 4. repeated disconnect/restore cycles --------------------------------------------


def test_three_disconnect_cycles_on_one_connection_are_flagged(rctx):
    admin, _group, connection, _caregiver = family_with_pair()
    cycles(admin, connection, 3)

    flag = flagged("disconnect_cycles")[str(connection.id)]

    assert flag.level == 3
    assert flag.title == "Người Thân was disconnected from Bệnh Nhân 3 times in 30 days"


def test_two_cycles_or_three_on_different_connections_are_not_flagged(rctx):
    admin, _sub, group = admin_group()
    patients = [join(group, role="patient") for _ in range(2)]
    caregiver = join(group)
    first, second = (connection_between(p, caregiver) for p in patients)
    cycles(admin, first, 2)
    cycles(admin, second, 1)

    found = flagged("disconnect_cycles")
    assert str(first.id) not in found
    assert str(second.id) not in found
    assert signals.current_level("disconnect_cycles", str(first.id)) is None


def test_disconnect_cycles_outside_the_window_are_not_flagged(rctx):
    admin, _group, connection, _caregiver = family_with_pair()
    cycles(admin, connection, 3)
    db.session.execute(update(AuditEvent).where(AuditEvent.action == "connection.disconnected")
                       .values(created_at=utcnow() - 31 * DAY))

    assert str(connection.id) not in flagged("disconnect_cycles")


# --- 5. many expired invites in one family --------------------------------------------


def test_five_expired_invites_in_one_family_are_flagged(rctx):
    group = make_group(name="Gia đình Hết Hạn")
    past = utcnow() - DAY
    for status in ("expired", "expired", "expired", "pending", "pending"):
        invite_row(group, next_phone(), created=past - 7 * DAY, expires=past, status=status)

    flag = flagged("expired_invites")[str(group.id)]

    assert flag.level == 5
    assert flag.title == "5 invites of Gia đình Hết Hạn expired unanswered in 30 days"
    assert ("Gia đình Hết Hạn", f"/staff/groups/{group.id}") in flag.links


def test_four_expired_or_five_accepted_invites_are_not_flagged(rctx):
    past = utcnow() - DAY
    four, accepted = make_group(), make_group()
    for _ in range(4):
        invite_row(four, next_phone(), expires=past, status="expired")
    for _ in range(5):
        invite_row(accepted, next_phone(), expires=past, status="accepted")
    for _ in range(3):  # pending but not expired yet
        invite_row(four, next_phone(), expires=utcnow() + DAY)

    found = flagged("expired_invites")
    assert str(four.id) not in found
    assert str(accepted.id) not in found


# --- 6. notifications failing repeatedly ----------------------------------------------


def test_three_failures_to_one_recipient_are_flagged(rctx):
    phone = next_phone()
    person = make_user(phone=phone, name="Khó Liên Lạc")
    for _ in range(3):
        failed_row(phone, user=person)

    flag = flagged("failing_notifications")[phone]

    assert flag.level == 3
    assert flag.title == f"Notifications to {display_phone(phone)} failed 3 times in 30 days"
    assert flag.links == [("Khó Liên Lạc", f"/staff/users/{person.id}")]


def test_two_failures_later_sent_ones_and_different_recipients_are_not_flagged(rctx):
    twice, resent = next_phone(), next_phone()
    for _ in range(2):
        failed_row(twice)
    for _ in range(3):
        failed_row(resent, status="sent")
    spread = [next_phone() for _ in range(3)]
    for phone in spread:
        failed_row(phone)

    found = flagged("failing_notifications")
    assert not {twice, resent, *spread} & set(found)


# --- the window and the thresholds ----------------------------------------------------


def test_an_old_pattern_is_not_flagged_until_the_window_reaches_it(rctx, configure):
    phone = next_phone()
    for _ in range(3):
        invite_row(make_group(), phone, created=utcnow() - 40 * DAY)

    assert phone not in flagged("phone_many_groups")
    configure(RISK_WINDOW_DAYS=60)
    assert flagged("phone_many_groups")[phone].level == 3


def test_thresholds_come_from_the_configuration(rctx, configure):
    phone = next_phone()
    for _ in range(2):
        invite_row(make_group(), phone)
    caregiver = make_user()
    make_connection(make_user(), caregiver)

    assert phone not in flagged("phone_many_groups")
    configure(RISK_THRESHOLDS={"phone_many_groups": 2, "caregiver_many_patients": 1})
    assert flagged("phone_many_groups")[phone].level == 2
    assert flagged("caregiver_many_patients")[str(caregiver.id)].level == 1
    assert signals.current_level("phone_many_groups", phone) == 2


def test_the_proxy_hours_come_from_the_configuration(rctx, configure):
    connection = make_connection(make_user(), make_user(), group=make_group())
    made = utcnow() - 5 * DAY
    connection.created_at = made
    event_row("connection.permission_changed", connection, at=made + timedelta(hours=30),
              details={"permission": "proxy_execution", "from": False, "to": True})

    assert str(connection.id) not in flagged("proxy_soon_after_join")
    configure(RISK_THRESHOLDS={"proxy_soon_after_join_hours": 48})
    assert flagged("proxy_soon_after_join")[str(connection.id)].level == 1


@pytest.mark.parametrize(("name", "value", "match"), [
    ("RISK_THRESHOLDS", "{not json", "RISK_THRESHOLDS"),
    ("RISK_THRESHOLDS", '{"phone_many_groups": -1}', "RISK_THRESHOLDS"),
    ("RISK_THRESHOLDS", '{"phone_many_group": 2}', "RISK_THRESHOLDS"),
    ("RISK_THRESHOLDS", '{"expired_invites": "5"}', "RISK_THRESHOLDS"),
    ("RISK_THRESHOLDS", "[3]", "RISK_THRESHOLDS"),
    ("RISK_WINDOW_DAYS", "0", "RISK_WINDOW_DAYS"),
    ("RISK_WINDOW_DAYS", "a month", "RISK_WINDOW_DAYS"),
])
def test_a_bad_risk_setting_is_a_config_error(monkeypatch, tmp_path, name, value, match):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=match):
        load_config(str(tmp_path), {"APP_ENV": "test"})


def test_partial_thresholds_are_merged_over_the_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("RISK_THRESHOLDS", '{"expired_invites": 8}')
    monkeypatch.setenv("RISK_WINDOW_DAYS", "14")
    config = load_config(str(tmp_path), {"APP_ENV": "test"})
    assert config["RISK_WINDOW_DAYS"] == 14
    assert config["RISK_THRESHOLDS"]["expired_invites"] == 8
    assert config["RISK_THRESHOLDS"]["phone_many_groups"] == 3


def test_each_signal_is_capped_strongest_first(rctx, configure):
    configure(RISK_THRESHOLDS={"failing_notifications": 1})
    strong = next_phone()
    for _ in range(3):
        failed_row(strong)
    weak = [next_phone() for _ in range(signals.FLAG_CAP + 5)]
    for phone in weak:
        failed_row(phone)

    found = signals.flags("failing_notifications")
    assert len(found) == signals.FLAG_CAP
    assert (found[0].key, found[0].level) == (strong, 3)


def test_flags_of_an_unknown_signal_are_not_found(rctx):
    with pytest.raises(DomainError) as caught:
        signals.flags("spam")
    assert caught.value.code == "unknown_signal"


# --- reviews and the queue ------------------------------------------------------------


def open_keys(queue, signal: str) -> set[str]:
    return {flag.key for s in queue.sections if s.signal.name == signal for flag in s.open}


def test_a_review_takes_an_item_off_the_queue_until_its_level_grows(rctx):
    staff = staff_member()
    phone = next_phone()
    for _ in range(3):
        invite_row(make_group(), phone)
    assert phone in open_keys(signals.queue(), "phone_many_groups")

    review = review_mark(actor=staff, signal="phone_many_groups", key=phone,
                         note="  Một người môi giới, đã gọi   xác minh ")
    db.session.commit()

    assert (review.level, review.note) == (3, "Một người môi giới, đã gọi xác minh")
    queue = signals.queue()
    assert phone not in open_keys(queue, "phone_many_groups")
    [reviewed] = queue.reviewed
    assert (reviewed.key, reviewed.level, reviewed.level_now, reviewed.reviewer) == (
        phone, 3, 3, "Nhân Viên")
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "staff.signal_reviewed"))
    assert event.actor_id == staff.id
    assert event.details["level"] == 3

    invite_row(make_group(), phone)  # a fourth family
    assert phone in open_keys(signals.queue(), "phone_many_groups")


def reviews() -> int:
    return db.session.scalar(select(func.count()).select_from(StaffReview))


def review_refused(code: str, **kwargs) -> DomainError:
    db.session.commit()
    before, before_reviews = row_counts(), reviews()
    with pytest.raises(DomainError) as caught:
        review_mark(**kwargs)
    db.session.rollback()
    assert caught.value.code == code, caught.value.message
    assert (row_counts(), reviews()) == (before, before_reviews)
    return caught.value


def test_review_refusals_write_nothing(rctx):
    staff = staff_member()
    phone = next_phone()
    for _ in range(3):
        invite_row(make_group(), phone)
    item = {"signal": "phone_many_groups", "key": phone}

    assert review_refused("staff_only", actor=make_user(), note="xem", **item).status == 403
    assert review_refused("reason_required", actor=staff, note="  ", **item).status == 422
    assert review_refused("reason_too_long", actor=staff, note="x" * 501, **item).status == 422
    assert review_refused("unknown_signal", actor=staff, signal="spam", key=phone,
                          note="xem").status == 404
    assert review_refused("not_flagged", actor=staff, signal="phone_many_groups",
                          key=next_phone(), note="xem").status == 409
    assert review_refused("not_flagged", actor=staff, signal="disconnect_cycles",
                          key="12abc", note="xem").status == 409


def test_the_queue_reads_in_a_constant_number_of_statements(app, rctx, count_queries):
    def one_of_each():
        phone = next_phone()
        for _ in range(3):
            invite_row(make_group(), phone)
        caregiver = make_user()
        for _ in range(5):
            make_connection(make_user(), caregiver)
        group = make_group()
        for _ in range(5):
            invite_row(group, next_phone(), expires=utcnow() - DAY, status="expired")
        recipient = next_phone()
        for _ in range(3):
            failed_row(recipient, user=make_user())
        return phone

    staff = staff_member()
    phone = one_of_each()
    review_mark(actor=staff, signal="phone_many_groups", key=phone, note="ổn")
    db.session.commit()
    with count_queries() as few:
        small = signals.queue()
    for _ in range(6):
        review_mark(actor=staff, signal="phone_many_groups", key=one_of_each(), note="ổn")
    db.session.commit()
    with count_queries() as many:
        large = signals.queue()

    assert sum(s.flagged for s in large.sections) == 7 * sum(s.flagged for s in small.sections)
    assert len(large.reviewed) == 7
    assert len(many) == len(few) <= 14


# --- evidence -------------------------------------------------------------------------


def test_evidence_of_an_item_no_longer_flagged_still_shows_its_rows(rctx):
    phone = next_phone()
    for _ in range(2):
        invite_row(make_group(name="Nhà A"), phone)

    found = signals.evidence("phone_many_groups", phone)

    assert (found.flagged, found.level, found.threshold) == (False, 2, 3)
    assert len(found.rows) == 2
    assert found.rows[0].cells[1].text == "Nhà A"


def test_evidence_of_failing_notifications_offers_a_resend_for_each(rctx):
    phone = next_phone()
    rows = [failed_row(phone) for _ in range(3)]

    found = signals.evidence("failing_notifications", phone)

    assert found.flagged
    assert found.resend
    assert {row.resend_id for row in found.rows} == {r.id for r in rows}
    error = found.rows[0].cells[4]
    assert (error.text, error.raw) == ("The SMS gateway had a fault of its own (HTTP 500).",
                                       "SMS gateway answered HTTP 500")


@pytest.mark.parametrize(("signal", "key", "code"), [
    ("spam", "1", "unknown_signal"),
    ("disconnect_cycles", "abc", "not_found"),
    ("expired_invites", "0", "not_found"),
    ("caregiver_many_patients", "9" * 30, "not_found"),
    ("failing_notifications", "a\x00b", "not_found"),
    ("phone_many_groups", "+8491" + "0" * 20, "not_found"),
])
def test_evidence_of_an_unknown_signal_or_key_is_not_found(rctx, signal, key, code):
    with pytest.raises(DomainError) as caught:
        signals.evidence(signal, key)
    assert (caught.value.status, caught.value.code) == (404, code)


def test_evidence_of_a_quick_proxy_turn_on_shows_the_change_and_the_join_time(rctx):
    admin, _group, connection, _caregiver = family_with_pair()
    set_in_turn(admin, connection, {"proxy_execution": False}, {"proxy_execution": True})

    found = signals.evidence("proxy_soon_after_join", str(connection.id))

    assert (found.flagged, found.level, found.group_id) == (True, 1, connection.family_group_id)
    assert [row.cells[2].text for row in found.rows] == ["turned on", "turned off"]
    assert found.rows[0].cells[1].text == admin.name
    assert found.rows[0].cells[3].when is not None
    assert found.rows[0].cells[4].text == "0.0 h"
