"""The family admin's flow with the keyboard alone, in Chromium: Tab, Shift+Tab, Enter and
Space (and typing into fields), never a click.

Log in through the skip link and the login form, reach the family page from the header,
turn a permission off (the inline confirmation takes the focus, the switch gets it back,
in place: htmx, no reload) and on again (at once), open and confirm the silent
disconnect of a caregiver, and log out. At every stop the focused element is on screen
and drawn with a focus ring.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from app.extensions import db
from app.models.connections import Connection
from tests.browser.world import permission
from tests.factories import PASSWORD, national

MAX_TABS = 150
# What the eye is shown of the focus: a ring (outline) or a shadow, on an element on screen.
_FOCUS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return {what: "body", ring: false, onScreen: false};
  const style = getComputedStyle(e), box = e.getBoundingClientRect();
  const ring = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
               || style.boxShadow !== "none";
  const onScreen = box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
                   && box.top < innerHeight && box.left < innerWidth;
  const what = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
               + (e.className && typeof e.className === "string" ? "." + e.className : "");
  return {what, ring, onScreen, text: (e.innerText || e.value || "").trim().slice(0, 40)};
}"""


def focus_shown(page: Page) -> dict:
    """Fail unless the focused element is visible and has a visible focus style."""
    focus = page.evaluate(_FOCUS)
    assert focus["onScreen"], f"the focus is off screen or on nothing: {focus}"
    assert focus["ring"], f"the focused element shows no focus style: {focus}"
    return focus


def press(page: Page, key: str) -> dict:
    page.keyboard.press(key)
    return focus_shown(page)


def tab_to(page: Page, selector: str, *, back: bool = False) -> None:
    """Tab (or Shift+Tab) until `selector` has the focus, checking each stop on the way."""
    target = page.locator(selector)
    expect(target).to_have_count(1)
    stops = []
    for _ in range(MAX_TABS):
        stops.append(press(page, "Shift+Tab" if back else "Tab")["what"])
        if target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{selector} never got the focus; the stops were: {stops}")


def settled(page: Page) -> None:
    """Wait until htmx has swapped and settled (its hx- attributes bound in the new
    content): a key pressed faster than that would post the plain form instead."""
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
           ).to_have_count(0)


def revoked(live, connection_ids: list[int]) -> list[bool]:
    with live.app.app_context():
        flags = [db.session.get(Connection, cid).permission_revoked for cid in connection_ids]
        db.session.remove()
    return flags


def test_the_admin_does_it_all_with_the_keyboard(live, world, new_page):
    page = new_page()
    page.goto(live.url("/account/login"))

    # The first stop is the skip link; it shows itself and takes the focus into main.
    skip = press(page, "Tab")
    assert skip["what"].startswith("a.skip-link"), skip
    expect(page.locator("a.skip-link")).to_have_attribute("href", "#main")
    expect(page.locator("a.skip-link")).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    press(page, "Tab")
    expect(page.locator("#login")).to_be_focused()

    # Log in: type, Tab, type, Enter.
    page.keyboard.type(national(world["an"].phone))
    press(page, "Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(live.url("/"))

    # The family page, from the header's "My family".
    tab_to(page, "#nav-family")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/family/{world.group_id}$"))
    expect(page.locator("[autofocus]")).to_have_count(0)  # a page load leaves the focus alone

    # Turn Cúc's "health overview" for Bình off: Space on the switch, the step (named by its
    # question) takes the focus, Tab to "Turn off", Space; the switch comes back off,
    # focused, in place.
    cid, code = world.connections["cuc", "binh"], "health_overview"
    assert permission(live, cid, code) is True
    page.evaluate("window.__sameDocument = true")
    switch_of = f'[role=switch][value^="{cid} {code} "]'  # the switch, either state
    tab_to(page, switch_of)
    expect(page.locator(switch_of)).to_have_attribute(
        "aria-checked", "true")
    page.keyboard.press("Space")
    question = page.locator(f"#connection-{cid}-{code}")  # the step, named by its question
    expect(question).to_be_focused()
    settled(page)
    focus_shown(page)
    press(page, "Tab")
    expect(page.locator(f"#connection-{cid}-{code}-turn-off")).to_be_focused()
    page.keyboard.press("Space")
    switch = page.locator(switch_of)
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_be_focused()
    settled(page)
    focus_shown(page)
    assert page.evaluate("window.__sameDocument") is True  # htmx: no reload
    assert permission(live, cid, code) is False
    # On again: Space, at once (no question), and the focus stays on the switch.
    page.keyboard.press("Space")
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(switch).to_be_focused()
    settled(page)
    assert permission(live, cid, code) is True
    page.keyboard.press("Space")  # and off for good, through the question again
    expect(question).to_be_focused()
    settled(page)
    press(page, "Tab")
    page.keyboard.press("Enter")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_be_focused()
    settled(page)
    assert page.evaluate("window.__sameDocument") is True
    assert permission(live, cid, code) is False

    # Disconnect Cúc from every patient: back up (Shift+Tab) to her row's link, Enter, the
    # question takes the focus, Tab to the reason, type it, Tab to the button, Enter.
    cuc = world["cuc"].id
    tab_to(page, f"#caregiver-{cuc}-disconnect-link", back=True)
    page.keyboard.press("Enter")
    expect(page.locator(f"#caregiver-{cuc}-disconnect-question")).to_be_focused()
    settled(page)
    focus_shown(page)
    press(page, "Tab")
    expect(page.locator(f"#caregiver-{cuc}-reason")).to_be_focused()
    page.keyboard.type("Cả nhà đã thống nhất.")
    press(page, "Tab")
    expect(page.locator(f"#caregiver-{cuc}-disconnect-confirm")).to_be_focused()
    page.keyboard.press("Enter")
    # the page comes back (a plain post) with the tag, and the flash names her (the live
    # region already named her after the toggle: the tag is what says the post is done)
    mine = [world.connections["cuc", "binh"], world.connections["cuc", "hoa"]]
    expect(page.locator(f"#connection-{mine[0]}-revoked")).to_be_visible()
    expect(page.locator(".flashes")).to_contain_text(world["cuc"].name)
    assert revoked(live, mine) == [True, True]

    # Log out from the header's account menu: Enter opens it, Tab reaches "Log out".
    tab_to(page, ".account-menu summary", back=True)
    page.keyboard.press("Enter")
    expect(page.locator(".account-menu")).to_have_attribute("open", "")
    tab_to(page, "form[action$='/account/logout'] button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/account/login$"))
    expect(page.locator("#nav-family")).to_have_count(0)
    page.goto(live.url(f"/family/{world.group_id}"))
    assert "/account/login" in page.url
