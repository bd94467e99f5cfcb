"""Restore as before (BR-040, issue 18) in Chromium: the restore asks first, naming the
permissions that come back on and those that stay off — inline in the row with htmx (the
admin's matrix), on a page of its own without JavaScript (the patient's "Who follows
me") — and the connection comes back with the permissions it had, the live region or the
flash saying so. At 390 and 1280 px, in Vietnamese and English."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.connections.control import connection_revoke
from app.extensions import db
from app.models.accounts import User
from tests.browser.story import DESK, PHONE, Shots, log_in
from tests.browser.world import permission

LANGUAGES = ["vi", "en"]
# Dũng → Bình has task_config and proxy_execution off (tests/browser/world.py).
KEPT_OFF = ("task_config", "proxy_execution")
BACK_ON = ("health_overview", "emergency_alert", "compliance_tracking", "encouragement")
SAID = {"vi": "như trước khi ngắt kết nối", "en": "as before the disconnect"}


def disconnect(live, connection_id: int, by: int) -> None:
    with live.app.app_context():
        connection_revoke(actor=db.session.get(User, by), connection_id=connection_id)
        db.session.commit()
        db.session.remove()




def both_sizes(shots: Shots, page, step: str, focus) -> None:
    """The step at 390 and 1280 px. The matrix scrolls sideways on a phone by design (its
    .matrix-scroll box), so the page is not held to story.assert_fits here."""
    before = page.viewport_size
    for size in (PHONE, DESK):
        page.set_viewport_size(size)
        shots(page, f"{step}-{size['width']}px", focus)
    page.set_viewport_size(before)


def as_before(live, connection_id: int) -> None:
    assert [permission(live, connection_id, code) for code in BACK_ON] == [True] * 4
    assert [permission(live, connection_id, code) for code in KEPT_OFF] == [False] * 2


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_admin_restores_inline_as_before(live, world, new_page, screenshots, lang):
    cid = world.connections["dung", "binh"]
    disconnect(live, cid, world["an"].id)
    page = new_page("en-US" if lang == "en" else "vi-VN")
    log_in(page, live, world["an"].phone, lang)
    page.goto(live.url(f"/family/{world.group_id}"))
    shots = Shots(screenshots)
    row = page.locator(f"#connection-{cid}")
    expect(row).to_have_class("is-revoked")
    page.locator(f"#connection-{cid}-restore").click()
    question = page.locator(f"#restore-{cid}-question")
    # inline, in the row's actions cell: the step named by its question has the focus
    step = page.locator(f"#restore-{cid}")
    expect(step).to_be_focused()
    expect(step).to_have_attribute("aria-labelledby", f"restore-{cid}-question")
    expect(page.locator(f"#restore-{cid}-on li")).to_have_count(len(BACK_ON))
    expect(page.locator(f"#restore-{cid}-off li")).to_have_count(len(KEPT_OFF))
    assert "/restore" not in page.url
    both_sizes(shots, page, "asks-inline", question)
    page.locator(f"#restore-{cid}-confirm").click()
    expect(row).not_to_have_class("is-revoked")
    expect(page.locator("#flashes .flash-success")).to_contain_text(SAID[lang])
    for code in BACK_ON:
        expect(page.locator(f'[role=switch][value^="{cid} {code} "]')).to_have_attribute(
            "aria-checked", "true")
    for code in KEPT_OFF:
        expect(page.locator(f'[role=switch][value^="{cid} {code} "]')).to_have_attribute(
            "aria-checked", "false")
    both_sizes(shots, page, "restored", row)
    as_before(live, cid)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_patient_restores_without_javascript_as_before(live, world, browser, screenshots,
                                                           lang):
    cid = world.connections["dung", "binh"]
    disconnect(live, cid, world["binh"].id)
    context = browser.new_context(java_script_enabled=False, viewport=PHONE,
                                  locale="en-US" if lang == "en" else "vi-VN")
    try:
        page = context.new_page()
        log_in(page, live, world["binh"].phone, lang)
        page.goto(live.url("/followers"))
        shots = Shots(screenshots)
        page.locator(f"#connection-{cid}-restore").click()
        page.wait_for_url(f"**/connections/{cid}/restore?back=followers")
        expect(page.locator(f"#restore-{cid}-question")).to_be_visible()
        expect(page.locator(f"#restore-{cid}-off li")).to_have_count(len(KEPT_OFF))
        shots.phone_and_desk(page, "asks-page")
        assert permission(live, cid, "health_overview") is False  # asking changes nothing
        page.locator(f"#restore-{cid}-confirm").click()
        page.wait_for_url(f"**/followers#connection-{cid}")
        expect(page.locator(".flash-success")).to_contain_text(SAID[lang])
        expect(page.locator(f"#connection-{cid}")).not_to_have_class("is-revoked")
        both_sizes(shots, page, "restored", page.locator(".flash-success"))
        as_before(live, cid)
    finally:
        context.close()
