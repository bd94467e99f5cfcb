"""An audit event in words (app/audit/words.py): every action the portal records has a
sentence, codes read through their lookups, booleans as on/off, times in the display time
zone, and an unknown action or detail still reads without breaking the page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask_babel import force_locale

from app.audit.words import (
    PAGE_VIEWS,
    SENTENCES,
    Names,
    describe,
    readable,
    sentence,
)

APP = Path(__file__).resolve().parents[2] / "app"
# How the services name an action: audit_record(action="…"), audit_row(action="…") and
# the rows written in bulk ({"action": "…"}).
WRITTEN = re.compile(r"""(?:\baction=|["']action["']:\s*)["']([a-z_]+\.[a-z_]+)["']""")


def event(action: str, details: dict | None = None, **fields) -> SimpleNamespace:
    return SimpleNamespace(**{
        "id": 1, "action": action, "details": details, "actor_id": 7,
        "subject_type": None, "subject_id": None, "family_group_id": None, "ip": None,
        "created_at": datetime(2026, 3, 1, 17, 30, tzinfo=UTC)} | fields)


NAMES = Names(people={7: "Lan", 8: "Bình", 9: "Cúc"}, families={3: "Gia đình Nguyễn"},
              connections={21: (9, 8)}, relationships={"con_gai": "Con gái", "bo": "Bố"},
              permissions={"health_overview": "Xem tổng quan sức khỏe"})


def test_every_action_the_portal_records_has_words():
    written = {action for path in APP.rglob("*.py")
               for action in WRITTEN.findall(path.read_text(encoding="utf-8"))}
    assert "group.member_joined" in written
    assert "staff.group_viewed" in written
    assert sorted(written - set(SENTENCES)) == []
    assert set(PAGE_VIEWS) <= set(SENTENCES)


def test_every_sentence_reads_with_no_details_in_both_languages(ctx):
    for action in SENTENCES:
        for language in ("en", "vi"):
            with force_locale(language):
                said = sentence(event(action, {}), {}, Names())
            assert said
            assert action not in said
            assert "%(" not in said


def test_an_unknown_action_reads_as_words_and_keeps_its_details(ctx):
    odd = event("test.something_odd", {"flag": True, "nested": {"a": [1, 2]}, "n": None},
                subject_type="some_table", subject_id=5)
    described = describe(odd, odd.details, NAMES)
    assert described.sentence == "Recorded: Test: something odd."
    assert described.subject.text == "Some table #5"
    assert [(line.label, line.text) for line in described.lines] == [
        ("Flag", "on"), ("Nested", '{"a": [1, 2]}')]
    assert readable("group.member_joined") == "Group: member joined"


def test_codes_read_through_their_lookups_in_vietnamese(ctx):
    created = event("connection.created", {"patient_id": 8, "caregiver_id": 9,
                                           "relationship": "con_gai",
                                           "inverse_relationship": "bo"},
                    subject_type="user_emergency_contacts", subject_id=21)
    with force_locale("vi"):
        described = describe(created, created.details, NAMES)
    assert described.sentence == "Đã kết nối: Cúc theo dõi Bình."
    assert [(line.key, line.text) for line in described.lines] == [
        ("relationship", "Con gái"), ("inverse_relationship", "Bố")]
    assert (described.subject.kind, described.subject.text) == ("connection", "Cúc → Bình")
    assert (described.subject.caregiver, described.subject.patient) == ((9, "Cúc"), (8, "Bình"))


def test_a_relationship_change_names_the_parties_from_the_connection(ctx):
    changed = event("connection.relationship_changed",
                    {"as": "caregiver", "relationship": "con_gai", "inverse_relationship": "bo",
                     "from": {"relationship": None, "inverse_relationship": None}},
                    subject_type="user_emergency_contacts", subject_id=21)
    described = describe(changed, changed.details, NAMES)
    assert described.sentence == ("Set how they are related: Cúc is “Con gái” to Bình.")
    assert [(line.key, line.text) for line in described.lines] == [
        ("as", "caregiver"), ("inverse_relationship", "Bố"), ("from", "not set")]


@pytest.mark.parametrize(("to", "en", "vi"), [
    (True, "Turned “Xem tổng quan sức khỏe” on (it was off).", "bật"),
    (False, "Turned “Xem tổng quan sức khỏe” off (it was on).", "tắt")])
def test_a_permission_change_says_which_way_and_booleans_read_on_off(ctx, to, en, vi):
    changed = event("connection.permission_changed",
                    {"permission": "health_overview", "from": not to, "to": to,
                     "as": "admin", "patient_id": 8, "caregiver_id": 9, "extra": to})
    described = describe(changed, changed.details, NAMES)
    assert described.sentence == en
    assert "from" not in {line.key for line in described.lines}
    with force_locale("vi"):
        lines = {line.key: line.text for line in describe(changed, changed.details,
                                                          NAMES).lines}
    assert lines == {"as": "quản trị viên", "extra": vi}


def test_a_time_in_the_details_is_shown_in_the_display_time_zone(ctx):
    sent = event("invite.created", {"phone": "+84987000001", "role": "caregiver",
                                    "expires_at": "2026-03-08T17:30:00+00:00"})
    with force_locale("vi"):
        lines = {line.key: line for line in describe(sent, sent.details, NAMES).lines}
    assert lines["phone"].text == "0987 000 001"
    # 17:30 UTC is half past midnight the next day in Asia/Ho_Chi_Minh (UTC+7)
    assert lines["expires_at"].text == "00:30, 9 thg 3, 2026"
    assert lines["expires_at"].moment == datetime(2026, 3, 8, 17, 30, tzinfo=UTC)


def test_who_acted_when_nobody_signed_in_did(ctx):
    assert describe(event("account.login_failed", actor_id=None), {}, NAMES).actor == (
        "Someone not signed in")
    assert describe(event("integrity.repaired", actor_id=None), {}, NAMES).actor == "The system"
    assert describe(event("account.login", actor_id=12345), {}, NAMES).actor == "user 12345"


def test_staff_page_views_are_marked(ctx):
    look = event("staff.user_viewed", {"view": "staff user page"}, subject_type="users",
                 subject_id=8)
    described = describe(look, look.details, NAMES)
    assert described.page_view
    assert described.sentence == "Looked at the file of Bình as staff."
    assert [(line.label, line.text) for line in described.lines] == [
        ("Page", "the person's staff page")]
    assert not describe(event("account.login"), {}, NAMES).page_view


def test_a_disconnect_names_the_permissions_it_found_and_a_restore_what_came_back(ctx):
    """BR-040: a disconnect records the six as they were; the trail says them in words,
    never as the raw object (and a restore says what it brought back)."""
    six = {"health_overview": True, "emergency_alert": False, "task_config": False,
           "compliance_tracking": False, "proxy_execution": False, "encouragement": False}
    names = Names(people=NAMES.people, permissions={"health_overview": "View health overview",
                                                    "emergency_alert": "Receive emergency alerts"})
    cut = event("connection.disconnected", {"scope": "connection", "patient_id": 8,
                                            "caregiver_id": 9, "permissions": six})
    lines = {line.key: line.text for line in describe(cut, cut.details, names).lines}
    assert lines["permissions"] == ("on: View health overview; off: Receive emergency alerts, "
                                    "Task config, Compliance tracking, Proxy execution, "
                                    "Encouragement")
    back = event("connection.restored", {"patient_id": 8, "caregiver_id": 9, "permissions": six})
    described = describe(back, back.details, names)
    assert described.sentence == ("Restored the connection as before the disconnect: "
                                  "View health overview on.")
    assert "permissions" not in {line.key for line in described.lines}
