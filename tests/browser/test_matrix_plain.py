"""The permission matrix without JavaScript, in Chromium (issue 17): a switch is a button
of its patient's form (form=…), so a browser that runs no script still posts it — OFF
through the confirmation page, ON at once — and comes back to the family page."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.story import PHONE
from tests.browser.world import permission
from tests.factories import PASSWORD, national


def test_a_switch_works_without_javascript(live, world, browser, screenshots):
    cid, code = world.connections["cuc", "binh"], "compliance_tracking"
    assert permission(live, cid, code) is True
    context = browser.new_context(java_script_enabled=False, locale="vi-VN", viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(live.url("/account/login"))
        page.locator("#login").fill(national(world["an"].phone))
        page.locator("#password").fill(PASSWORD)
        page.locator("#login-form button[type=submit]").click()
        page.wait_for_url(lambda url: "/account/login" not in url)
        page.goto(live.url(f"/family/{world.group_id}"))
        switch = page.locator(f'[role=switch][value^="{cid} {code} "]')
        expect(switch).to_have_attribute("aria-checked", "true")
        # OFF: the form posts set=…, the answer is the confirmation page (BR-024)
        switch.click()
        page.wait_for_url("**/switch")
        expect(page.locator(f"#connection-{cid}-{code}-question")).to_be_visible()
        page.screenshot(path=screenshots / "01-asks-before-off.png", full_page=True)
        assert permission(live, cid, code) is True
        page.locator(f"#connection-{cid}-{code}-turn-off").click()
        page.wait_for_url(f"**/family/{world.group_id}#connection-{cid}")
        expect(page.locator(".flash-success")).to_be_visible()
        expect(switch).to_have_attribute("aria-checked", "false")
        assert permission(live, cid, code) is False
        # ON: at once, back on the page
        switch.click()
        page.wait_for_url(f"**/family/{world.group_id}#connection-{cid}")
        expect(switch).to_have_attribute("aria-checked", "true")
        page.screenshot(path=screenshots / "02-on-again.png", full_page=True)
        assert permission(live, cid, code) is True
    finally:
        context.close()
