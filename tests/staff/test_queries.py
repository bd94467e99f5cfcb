"""What the staff pages read: a user found by any common spelling of their phone number,
by the start of it or of their email; the group list by status, name or admin phone, in
keyset pages that cost the same number of statements whatever their size."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.staff.queries import (
    GROUP_PAGE,
    audit_all,
    audit_batches,
    group_rows,
    groups_search,
    search_key,
    user_search,
)
from tests.factories import make_group, make_member, make_subscription, make_user

PHONE = "+84912345678"


def phones(users) -> set[str]:
    return {u.phone for u in users}


# --- users by phone ---------------------------------------------------------------------


@pytest.mark.parametrize("typed", [
    "0912345678",
    "0912 345 678",
    "0912.345.678",
    "0912-345-678",
    "912345678",
    "912 345 678",
    "+84912345678",
    "+84 912 345 678",
    "84912345678",
    "84 912 345 678",
    "0084912345678",
    "0084 912 345 678",
    "+84 (0) 912 345 678",
    "(+84) 912-345-678",
    "  0912345678  ",
])
def test_every_common_spelling_of_a_number_finds_the_user(ctx, typed):
    wanted = make_user(phone=PHONE)
    make_user(phone="+84912345679")

    assert search_key(typed).kind == "phone"
    assert [u.id for u in user_search(typed)] == [wanted.id]


@pytest.mark.parametrize("typed", [
    "01681234567", "0168 123 4567", "+84 168 123 4567", "841681234567", "00841681234567",
])
def test_an_old_eleven_digit_number_finds_the_renumbered_user(ctx, typed):
    wanted = make_user(phone="+84381234567")  # 0168 became 038 in 2018

    assert [u.id for u in user_search(typed)] == [wanted.id]


def test_the_start_of_a_number_finds_every_number_that_begins_so(ctx):
    a, b = make_user(phone="+84912345678"), make_user(phone="+84912000001")
    make_user(phone="+84987654321")
    make_user(phone="+84391200000")  # 0391 2…: "912" inside, not at the start

    assert phones(user_search("0912")) == {a.phone, b.phone}
    assert phones(user_search("0912 34")) == {a.phone}
    assert phones(user_search("+84 912")) == {a.phone, b.phone}
    assert search_key("0912").kind == "phone_prefix"


def test_the_start_of_an_old_number_finds_the_renumbered_users(ctx):
    wanted = make_user(phone="+84381234567")
    make_user(phone="+84391234567")

    assert phones(user_search("01681 23")) == {wanted.phone}


@pytest.mark.parametrize("typed", ["091", "12", "5678", "0"])
def test_fewer_than_four_digits_or_a_number_without_its_start_names_nothing(ctx, typed):
    make_user(phone=PHONE)
    assert search_key(typed) is None
    assert user_search(typed) == []


# --- users by email ---------------------------------------------------------------------


def test_a_whole_email_finds_its_user_whatever_the_case(ctx):
    wanted = make_user(email="lan.nguyen@example.com")
    make_user(email="lan.nguyen@example.org")

    assert search_key("Lan.Nguyen@Example.COM").kind == "email"
    assert [u.id for u in user_search("Lan.Nguyen@Example.COM")] == [wanted.id]


def test_the_start_of_an_email_finds_partial_matches(ctx):
    a = make_user(email="lan.nguyen@example.com")
    b = make_user(email="lan.tran@example.com")
    make_user(email="an.lan@example.com")
    make_user(email=None)

    assert phones(user_search("lan.nguyen@ex")) == {a.phone}
    assert phones(user_search("lan.")) == {a.phone, b.phone}
    assert phones(user_search("LAN")) == {a.phone, b.phone}
    assert search_key("lan").kind == "email_prefix"


def test_like_wildcards_in_an_email_are_taken_literally(ctx):
    make_user(email="lan.nguyen@example.com")
    assert user_search("l_n%") == []
    assert user_search("%@example.com") == []


# --- nothing searchable -----------------------------------------------------------------


@pytest.mark.parametrize("typed", ["", "   ", "xin chào", "Nguyễn Văn An", "ab", "hello world",
                                   "0912 abc!", "\x00\x01"])
def test_text_that_names_nothing_searchable_finds_nobody(ctx, typed):
    make_user(phone=PHONE, email="lan@example.com")
    assert search_key(typed) is None
    assert user_search(typed) == []


def test_control_characters_never_reach_the_database(ctx):
    wanted = make_user(phone=PHONE, email="lan@example.com")
    assert [u.id for u in user_search("0912\x00345678")] == [wanted.id]
    assert user_search("lan\x00@example.com") == []


# --- groups -----------------------------------------------------------------------------


def families():
    """Three families: An's active, Bình's inactive, Cúc's dissolved; one more of An's."""
    an = make_user(phone="+84912345678", name="An")
    binh = make_user(phone="+84987654321", name="Bình")
    cuc = make_user(phone="+84901234567", name="Cúc")
    plan = make_subscription(an)
    return {
        "an": make_group(an, name="Gia đình Nguyễn", subscription=plan),
        "binh": make_group(binh, name="Nhà Trần", status="inactive"),
        "cuc": make_group(cuc, name="Nguyen Family", status="dissolved"),
        "an_old": make_group(an, name="Nhà cũ", status="dissolved", subscription=plan),
    }


def ids(groups) -> list[int]:
    return [g.id for g in groups]


def test_groups_are_listed_newest_first(ctx):
    made = families()
    assert ids(groups_search(status=None, query=None, before_id=None)) == sorted(
        (g.id for g in made.values()), reverse=True)


@pytest.mark.parametrize(("status", "names"), [
    ("active", {"an"}), ("inactive", {"binh"}), ("dissolved", {"cuc", "an_old"})])
def test_groups_by_status(ctx, status, names):
    made = families()
    found = groups_search(status=status, query=None, before_id=None)
    assert set(ids(found)) == {made[n].id for n in names}


def test_groups_by_a_part_of_their_name(ctx):
    made = families()
    assert ids(groups_search(status=None, query="trần", before_id=None)) == [made["binh"].id]
    assert set(ids(groups_search(status=None, query="NGUYEN", before_id=None))) == {
        made["cuc"].id}
    assert ids(groups_search(status=None, query="đình", before_id=None)) == [made["an"].id]
    assert groups_search(status=None, query="%", before_id=None) == []


@pytest.mark.parametrize("typed", ["0912 345 678", "+84912345678", "84 912-345-678"])
def test_groups_by_the_admins_phone_however_typed(ctx, typed):
    made = families()
    found = groups_search(status=None, query=typed, before_id=None)
    assert ids(found) == [made["an_old"].id, made["an"].id]
    assert ids(groups_search(status="active", query=typed, before_id=None)) == [made["an"].id]


def test_walking_every_page_with_the_cursor_yields_each_group_once_in_order(ctx):
    admin = make_user()
    plan = make_subscription(admin)
    made = [make_group(admin, name=f"Nhà {i}", status="dissolved", subscription=plan)
            for i in range(GROUP_PAGE * 2 + 3)]
    make_group(make_user(), name="Nhà khác")  # active: filtered out
    seen, before, pages = [], None, 0
    while True:
        rows = groups_search(status="dissolved", query=None, before_id=before)
        pages += 1
        page, more = rows[:GROUP_PAGE], len(rows) > GROUP_PAGE
        seen.extend(ids(page))
        if not more:
            break
        before = page[-1].id
    assert pages == 3
    assert seen == sorted((g.id for g in made), reverse=True)


def test_a_cursor_beyond_any_id_is_the_first_page(ctx):
    made = families()
    assert len(groups_search(status=None, query=None, before_id=2**70)) == len(made)


def _page_statements(count_queries) -> int:
    with count_queries() as statements:
        rows = groups_search(status=None, query=None, before_id=None)[:GROUP_PAGE]
        extras = group_rows(rows)
    assert len(rows) == len(extras.counts)
    return len(statements)


def test_a_page_costs_the_same_statements_for_one_group_and_for_sixty(ctx, count_queries):
    make_member(make_group(name="Một"), role="patient")
    db.session.flush()
    one = _page_statements(count_queries)
    for i in range(59):
        group = make_group(name=f"Nhà {i}")
        make_member(group, role="patient")
        make_member(group, role="caregiver")
    db.session.flush()
    sixty = _page_statements(count_queries)
    assert one == sixty == 3


def test_group_rows_reads_admins_and_member_counts(ctx):
    admin = make_user(name="Quản Trị")
    group = make_group(admin)
    make_member(group, role="patient")
    make_member(group, admin, role="caregiver")
    make_member(group, role="caregiver")
    extras = group_rows([group])
    assert extras.admins[admin.id].name == "Quản Trị"
    assert extras.counts[group.id] == {"patient": 1, "caregiver": 2}
    assert group_rows([]).counts == {}


# --- the audit trail in batches ---------------------------------------------------------


def test_audit_all_reads_the_whole_trail_oldest_first_in_batches(ctx, count_queries):
    from app.audit.services import audit_record

    group = make_group()
    other = make_group()
    for i in range(7):
        audit_record(actor=None, action=f"test.{i}", group_id=group.id)
    audit_record(actor=None, action="test.other", group_id=other.id)
    db.session.flush()

    with count_queries() as statements:
        batches = list(audit_batches(group.id, batch=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert len(statements) == 3
    assert [e.action for e in audit_all(group.id, batch=3)] == [f"test.{i}" for i in range(7)]
