"""The staff pages in Chromium (issue 18): the user search, the review queue, a person's
file and a family's page — each after its reason step (issue 21) — in Vietnamese and in
English, at 390 px (a phone) and 1280 px (a desk), after setting up the authenticator from
the secret its page shows (issue 21). The page never scrolls sideways (a wide table
scrolls inside its own box), the audit trails read as sentences with the raw action only
in its small <code>, the staff page views are behind their filter, and a gateway error
reads in the page's language.

Screenshots: test-output/screenshots/<backend>/test_staff_pages_<lang>_/NN-<page>-<width>.png
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from app.extensions import db
from app.models.notifications import InviteNotification
from tests.browser.story import DESK, PHONE, Shots, log_in, pass_staff_step

# Sideways scrolling of the page itself, and what sticks out of the viewport without a
# scroll box of its own around it (a table in .table-scroll may be wider: it scrolls there).
_OVERFLOW = """() => {
  const width = window.innerWidth;
  const boxed = e => {
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if (x === "auto" || x === "scroll" || x === "hidden") return true;
    }
    return false;
  };
  const out = [...document.querySelectorAll("body *")].filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && (box.right > width + 0.5 || box.left < -0.5) && !boxed(e);
  }).map(e => e.outerHTML.slice(0, 100));
  return {scroll: document.documentElement.scrollWidth, width, out};
}"""
# What a reader sees of the trail: its text without the small raw codes and the folded
# technical details.
_TRAIL_TEXT = """() => {
  const trail = document.querySelector("#audit").cloneNode(true);
  trail.querySelectorAll("code.event-code, details.raw").forEach(e => e.remove());
  return trail.textContent.replace(/\\s+/g, " ");
}"""

TEXTS = {
    "vi": {"joined": "Phạm Thị Lan đã tham gia gia đình với vai trò người thân.",
           "daughter": "Con gái", "show": "Hiện các lượt xem trang của nhân viên",
           "looked": "với tư cách nhân viên.",
           "gateway": "Cổng SMS đã từ chối số điện thoại (HTTP 400).",
           "say_which": "Bạn đã chọn “lý do khác”: hãy ghi rõ lý do trong vài từ.",
           "why": "Kiểm tra theo yêu cầu của bộ phận tuân thủ"},
    "en": {"joined": "Phạm Thị Lan joined the family as caregiver.",
           "daughter": "Daughter", "show": "Show staff page views", "looked": "as staff.",
           "gateway": "The SMS gateway refused the number (HTTP 400).",
           "say_which": "You chose “another reason”: say which, in a few words.",
           "why": "A check the compliance team asked for"},
}
RAW = ("con_gai", "group.member_joined", "invite.accepted", "user_emergency_contacts",
       "connection.permission_changed", "SMS gateway answered")


@pytest.fixture(scope="module")
def failed_sms(live, world) -> int:
    """The SMS of the invite Lan accepted, failed at the gateway (shown on both pages)."""
    with live.app.app_context():
        row_id = db.session.scalar(select(InviteNotification.id).where(
            InviteNotification.recipient == world["lan"].phone,
            InviteNotification.channel == "sms").order_by(InviteNotification.id))
        db.session.execute(update(InviteNotification).where(
            InviteNotification.id == row_id).values(
            status="failed", retry_count=3, error="SMS gateway answered HTTP 400",
            next_attempt_at=None))
        db.session.commit()
        db.session.remove()
    return row_id


def fits(page: Page, where: str) -> None:
    fit = page.evaluate(_OVERFLOW)
    assert fit["scroll"] <= fit["width"], (where, fit)
    assert fit["out"] == [], (where, fit)


def walk(page: Page, shots: Shots, name: str, *focus: str) -> None:
    """The page at 390 px and at 1280 px: it fits, and a screenshot of its top and of
    each `focus` section at each width."""
    page.wait_for_load_state("load")
    for size, label in ((PHONE, "390px"), (DESK, "1280px")):
        page.set_viewport_size(size)
        fits(page, f"{name} at {label}")
        page.evaluate("window.scrollTo(0, 0)")
        shots(page, f"{name}-{label}")
        for selector in focus:
            shots(page, f"{name}-{selector.strip('#')}-{label}", page.locator(selector))


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_staff_pages(live, world, failed_sms, new_page, screenshots, lang):
    t, shots = TEXTS[lang], Shots(screenshots)
    # refusals_ok: the refused reason below is a 422 page, on purpose
    page = new_page("en-US" if lang == "en" else "vi-VN", refusals_ok=True)
    log_in(page, live, world["staff"].phone, lang)
    # The second step (issue 21): the first run sets up the authenticator from the secret
    # the page shows, the second types the app's code.
    pass_staff_step(page, live, world["staff"].phone, shots)

    page.goto(live.url("/staff/?q=" + world["lan"].phone))
    expect(page.locator("#user-results")).to_be_visible()
    walk(page, shots, "search")
    page.goto(live.url("/staff/queue"))
    walk(page, shots, "queue")

    # Lan's file asks why first (issue 21): the step names her and shows nothing else.
    page.goto(live.url(f"/staff/users/{world['lan'].id}"))
    expect(page.locator("#reason-form")).to_be_visible()
    expect(page.locator("#audit")).to_have_count(0)
    walk(page, shots, "reason-file", "#reason-form")
    page.select_option("#reason-code", "support")
    page.click("#reason-button")
    # Her trail in words, then with the staff page views (the search above and this look
    # are not in it: a search names nobody, and a look is written after the page is made).
    expect(page.locator("#audit")).to_be_visible()
    trail = page.evaluate(_TRAIL_TEXT)
    assert t["joined"] in trail
    assert t["daughter"] in trail
    for raw in RAW:
        assert raw not in trail, raw
    expect(page.locator("#audit code.event-code").first).to_be_visible()
    expect(page.locator(f"#notification-{failed_sms} .error-words")).to_have_text(t["gateway"])
    walk(page, shots, "person", "#audit", "#notifications")
    page.reload()  # the first look is in the trail now, hidden
    page.get_by_role("link", name=t["show"]).click()
    expect(page.locator("#audit .trail-event.page-view").first).to_contain_text(t["looked"])
    walk(page, shots, "person-views", "#audit")

    # The family asks why too; "another reason" without words is refused in the page's
    # language, then given.
    page.goto(live.url(f"/staff/groups/{world.group_id}"))
    expect(page.locator("#members")).to_have_count(0)
    page.select_option("#reason-code", "other")
    page.click("#reason-button")
    expect(page.locator("#reason-text-error")).to_have_text(t["say_which"])
    walk(page, shots, "reason-family-refused", "#reason-form")
    page.fill("#reason-text", t["why"])
    page.click("#reason-button")
    # The family: members, the read-only matrix, invites and their delivery, the trail,
    # and the export, a form that asks why again.
    expect(page.locator("#audit-csv-form")).to_be_visible()
    trail = page.evaluate(_TRAIL_TEXT)
    assert t["joined"] in trail
    assert t["daughter"] in trail
    for raw in RAW:
        assert raw not in trail, raw
    assert page.locator("#audit .trail-event.page-view").count() == 0
    expect(page.locator(f"#notification-{failed_sms} .error-words")).to_have_text(t["gateway"])
    walk(page, shots, "family", "#matrix", "#invites", "#audit", "#audit-csv-form")


def test_the_overflow_check_sees_a_page_that_scrolls_sideways(live, world, new_page):
    """The check above is not blind: a box wider than the phone, outside any scroll box,
    fails it; the same box inside .table-scroll does not."""
    page = new_page()
    log_in(page, live, world["staff"].phone, "en")
    pass_staff_step(page, live, world["staff"].phone)
    page.goto(live.url("/staff/"))
    page.set_viewport_size(PHONE)
    wide = ("(inside) => { const box = document.createElement('div');"
            " box.style.width = '600px'; box.style.height = '10px';"
            " const holder = document.createElement('div');"
            " if (inside) holder.className = 'table-scroll';"
            " holder.id = 'wide'; holder.appendChild(box);"
            " document.querySelector('main').appendChild(holder); }")
    page.evaluate(wide, True)
    fits(page, "a wide box in a scroll box")
    page.evaluate("document.getElementById('wide').remove()")
    page.evaluate(wide, False)
    with pytest.raises(AssertionError):
        fits(page, "a wide box")
