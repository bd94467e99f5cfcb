"""The staff pages' audit trails in words (issue 18), read by a staff member whose portal
is in Vietnamese: a person's file and a family's page say each event as a sentence with
named codes and local times, hide the staff page views behind a filter, and say a failed
delivery in the reader's language. The raw action stays in a small <code> for staff."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from app.audit.services import audit_record
from app.connections.control import permissions_set
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from tests.conftest import person_of
from tests.factories import make_user
from tests.pages import ReasonGiving, text
from tests.service_helpers import admin_group, connection_between, join

WHEN = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 00:30 on 2 March in Asia/Ho_Chi_Minh
WHEN_VI = "00:30, 2 thg 3, 2026"


def invite_row(app, group_id: int, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(ConnectionInvite.id).where(
            ConnectionInvite.family_group_id == group_id,
            ConnectionInvite.receiver_id == user_id))


@pytest.fixture
def vi_staff(person, login):
    """A test client signed in as a staff member who reads Vietnamese."""
    return ReasonGiving(login(person(is_staff=True, name="Nhân Viên", locale="vi")))


@pytest.fixture
def fam(app):
    """A family: a patient, then a caregiver who joined as the patient's daughter; the
    admin turned one permission off; every event dated WHEN; another staff member looked
    at the caregiver's file and at the family once."""
    with app.app_context():
        admin, _sub, group = admin_group(admin=make_user(name="Quản Trị Viên"))
        group.name = "Gia đình Nguyễn"
        patient = join(group, role="patient", name="Bệnh Nhân")
        caregiver = join(group, role="caregiver", name="Người Thân", relationship="con_gai")
        connection = connection_between(patient, caregiver)
        permissions_set(actor=admin, connection_id=connection.id,
                        changes={"health_overview": False})
        other = make_user(name="Nhân Viên Khác", is_staff=True)
        audit_record(actor=other, action="staff.user_viewed", subject=caregiver,
                     details={"view": "staff user page"})
        audit_record(actor=other, action="staff.group_viewed", subject=group,
                     group_id=group.id, details={"view": "staff group page"})
        db.session.execute(update(AuditEvent).values(created_at=WHEN))
        db.session.commit()
        return {"id": group.id, "admin": person_of(admin), "patient": person_of(patient),
                "caregiver": person_of(caregiver), "connection": connection.id}


def section(body: str, section_id: str) -> str:
    start = body.index(f'<section class="group-section" id="{section_id}"')
    return body[start:body.index("</section>", start)]


def visible(html: str) -> str:
    """What a reader sees first: the text without tags, without the small raw action code
    and the folded technical details."""
    html = re.sub(r'<code class="event-code"[^>]*>.*?</code>', "", html, flags=re.S)
    html = re.sub(r'<details class="raw">.*?</details>', "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def no_raw_values(trail: str) -> None:
    seen = visible(trail)
    for raw in ("con_gai", "group.member_joined", "invite.accepted", "connection.created",
                "user_emergency_contacts", "health_overview", "false", "true", "caregiver",
                "+00:00"):
        assert raw not in seen, raw
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", seen)


def test_a_persons_file_says_their_trail_in_vietnamese(app, vi_staff, fam):
    caregiver, patient = fam["caregiver"], fam["patient"]

    trail = section(text(vi_staff.get(f"/staff/users/{caregiver.id}")), "audit")

    seen = visible(trail)
    assert "Người Thân đã tham gia gia đình với vai trò người thân." in seen
    assert "Đã chấp nhận lời mời và tham gia với vai trò người thân." in seen
    assert "Đã kết nối: Người Thân theo dõi Bệnh Nhân." in seen
    assert "Con gái" in seen  # the relationship, through the relationships lookup
    assert "Đã tắt “Xem tổng quan sức khỏe” (trước đó đang bật)." in seen
    # the connection as caregiver → patient, each linked to their file
    assert (f'<a href="/staff/users/{caregiver.id}">Người Thân</a> → '
            f'<a href="/staff/users/{patient.id}">Bệnh Nhân</a>') in trail
    assert f'<a href="/staff/groups/{fam["id"]}">Gia đình Nguyễn</a>' in trail
    # times in Asia/Ho_Chi_Minh, in Vietnamese order; the machine form only in datetime=
    assert f'<time datetime="2026-03-01T17:30:00+00:00">{WHEN_VI}</time>' in trail
    no_raw_values(trail)
    # the raw action stays, small, for investigations
    assert ('<code class="event-code" title="Sự kiện như được ghi lại">group.member_joined'
            '</code>') in trail


def test_a_persons_file_hides_staff_page_views_until_asked(app, vi_staff, fam):
    url = f"/staff/users/{fam['caregiver'].id}"

    hidden = section(text(vi_staff.get(url)), "audit")
    assert "Đã xem hồ sơ của Người Thân với tư cách nhân viên." not in hidden
    # the other staff member's look and my reason for opening the file
    assert "Các lượt xem trang của nhân viên đang được ẩn: 2 lượt trong nhật ký này." in hidden
    show = re.search(r'<a href="([^"]+)" id="audit-views-show">', hidden).group(1)
    assert show == f"{url}?views=1#audit"

    shown = section(text(vi_staff.get(show)), "audit")
    assert "Đã xem hồ sơ của Người Thân với tư cách nhân viên." in shown
    assert '<dd class="detail-view">trang nhân viên của người dùng</dd>' in shown
    assert "staff user page" not in visible(shown)  # the page's code, in words
    assert '<span class="tag tag-view">lượt xem của nhân viên</span>' in shown
    hide = re.search(r'<a href="([^"]+)" id="audit-views-hide">', shown).group(1)
    assert hide == f"{url}#audit"


def test_a_familys_page_says_its_trail_and_hides_staff_looks(app, vi_staff, fam):
    url = f"/staff/groups/{fam['id']}"

    trail = section(text(vi_staff.get(url)), "audit")

    seen = visible(trail)
    assert "Bệnh Nhân đã tham gia gia đình với vai trò người bệnh." in seen
    assert "Đã tắt “Xem tổng quan sức khỏe” (trước đó đang bật)." in seen
    assert "Con gái" in seen
    assert f'<time datetime="2026-03-01T17:30:00+00:00">{WHEN_VI}</time>' in trail
    no_raw_values(trail)
    assert "Đã xem gia đình “Gia đình Nguyễn” với tư cách nhân viên." not in seen
    # the other staff member's look and my reason; not my own look yet
    assert "đang được ẩn: 2 lượt" in seen

    shown = visible(section(text(vi_staff.get(url + "?views=1")), "audit"))
    assert shown.count("Đã xem gia đình “Gia đình Nguyễn” với tư cách nhân viên.") == 2
    assert "đang được hiện: 3 lượt" in shown


@pytest.mark.parametrize("bad", ["2", "yes", "true"])
def test_a_bad_filter_is_a_422(app, vi_staff, fam, bad):
    response = vi_staff.get(f"/staff/groups/{fam['id']}", query_string={"views": bad})
    assert response.status_code == 422
    response = vi_staff.get(f"/staff/users/{fam['caregiver'].id}", query_string={"views": bad})
    assert response.status_code == 422
    assert "Liên kết trang này không hợp lệ" in text(response)


def test_a_gateway_error_reads_in_vietnamese_with_the_stored_text_folded(app, vi_staff, fam):
    caregiver = fam["caregiver"]
    with app.app_context():
        db.session.execute(update(InviteNotification).where(
            InviteNotification.invite_id == invite_row(app, fam["id"], caregiver.id),
            InviteNotification.channel == "sms").values(
            status="failed", retry_count=3, error="SMS gateway answered HTTP 400",
            next_attempt_at=None))
        db.session.commit()

    for url, part in ((f"/staff/users/{caregiver.id}", "notifications"),
                      (f"/staff/groups/{fam['id']}", "invites")):
        shown = section(text(vi_staff.get(url)), part)
        assert ('<span class="error-words">Cổng SMS đã từ chối số điện thoại (HTTP 400).'
                '</span>') in shown
        assert ('<details class="raw"><summary>Chi tiết kỹ thuật</summary>'
                '<code>SMS gateway answered HTTP 400</code></details>') in shown
        assert "SMS gateway answered" not in visible(shown)


def test_a_resend_in_the_trail_says_the_error_it_had(app, vi_staff, fam):
    with app.app_context():
        staff = db.session.get(User, fam["admin"].id)
        audit_record(actor=staff, action="staff.notification_resent", group_id=fam["id"],
                     details={"reason": "Khách gọi tổng đài", "channel": "sms",
                              "type": "INVITE_CREATED", "retry_count": 3,
                              "error": "SMS gateway unreachable: ConnectTimeout: timed out"})
        db.session.commit()
    trail = section(text(vi_staff.get(f"/staff/groups/{fam['id']}")), "audit")
    assert "Đã đưa một tin nhắn gửi lỗi trở lại hàng đợi (SMS)." in trail
    assert "Cổng SMS không phản hồi kịp thời." in trail
    assert '<dd class="detail-reason">Khách gọi tổng đài</dd>' in trail
    assert "SMS gateway unreachable" not in visible(trail)


def test_a_trail_costs_the_same_statements_however_many_people_it_names(app, vi_staff,
                                                                       count_queries):
    """A staff member's own trail (their looks shown) names one person and family per
    event: read in one statement each, however many."""
    with app.app_context():
        looker = make_user(name="Người Xem", is_staff=True)
        db.session.commit()
        looker_id = looker.id

    def looks(n: int) -> None:
        with app.app_context():
            actor = db.session.get(User, looker_id)
            for _i in range(n):
                _admin, _sub, group = admin_group()
                audit_record(actor=actor, action="staff.user_viewed", subject=make_user(),
                             details={"view": "staff user page"})
                audit_record(actor=actor, action="staff.group_viewed", subject=group,
                             group_id=group.id, details={"view": "staff group page"})
            db.session.commit()

    def statements() -> int:
        with count_queries() as seen:
            body = text(vi_staff.get(f"/staff/users/{looker_id}?views=1"))
        assert "Đã xem hồ sơ của" in body
        return len(seen)

    looks(2)
    statements()  # the first request fills the lookup-name cache
    few = statements()
    looks(20)
    assert statements() == few
