"""The permission matrix fits the screen (issue 18), in Chromium: the family admin's on the
family page and the patient's on "Who follows me", at 390 px (a phone) and 1280 px (a desk),
in Vietnamese and English, with the module's `world` family (two patients, four caregivers,
one of them silently disconnected).

On each: the page never scrolls sideways; every switch and every action of every
connection is inside the viewport's width; at a desk the column headers take at most three
lines and every column holds something, on a phone each switch shows its label beside it.
Opening a step — the stronger one before emergency alerts go off, the one before any other
permission goes off, the one before a disconnect — moves nothing on the page and shows its
buttons whole inside the viewport. A toggle with JavaScript says what changed in the page's
live region (#flashes). Screenshots of each step go to the test's folder.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.story import DESK, PHONE, log_in
from tests.browser.world import World, permission

# What the live region says after a toggle, in each language (the msgids and the catalogue).
TURNED = {"en": {"on": "“{permission}” is on for {caregiver}.",
                 "off": "“{permission}” is off for {caregiver}."},
          "vi": {"on": "Quyền “{permission}” của {caregiver} đang bật.",
                 "off": "Quyền “{permission}” của {caregiver} đang tắt."}}

# Each visible element matched, with its box in the page's coordinates (scrolling aside).
_BOXES = """(selector) => [...document.querySelectorAll(selector)]
  .filter(e => e.checkVisibility())
  .map(e => {
    const box = e.getBoundingClientRect();
    return {key: e.getAttribute("value") || e.id || e.outerHTML.slice(0, 90),
            left: box.left, right: box.right, top: box.top + scrollY, bottom: box.bottom + scrollY,
            width: box.width, height: box.height};
  })"""
_SCREEN = """() => ({scroll: document.documentElement.scrollWidth, width: innerWidth,
                     height: innerHeight})"""
# A desk's column headers: how many lines each takes.
_HEADER_LINES = """() => [...document.querySelectorAll("table.matrix thead th")].map(th => {
  const style = getComputedStyle(th);
  const inner = th.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
  const range = document.createRange();
  range.selectNodeContents(th);
  const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
  return {text: th.innerText.trim(), lines, inner};
})"""
# Per table, how many cells of each column hold something the eye sees.
_FILLED_COLUMNS = """() => [...document.querySelectorAll("table.matrix")].map(table => {
  const filled = [];
  for (const row of table.tBodies[0].rows) {
    [...row.cells].forEach((cell, i) => {
      const seen = [...cell.querySelectorAll("*")].some(e => e.checkVisibility()
                     && e.getBoundingClientRect().width > 0) || cell.innerText.trim() !== "";
      filled[i] = (filled[i] || 0) + (seen ? 1 : 0);
    });
  }
  return {columns: table.tHead.rows[0].cells.length, filled};
})"""
# A phone's switch: the label its line shows (the stylesheet's ::before) and its width.
_LABELS = """() => [...document.querySelectorAll("table.matrix [role=switch]")].map(e => ({
  value: e.value, label: getComputedStyle(e, "::before").content,
  header: document.getElementById(e.getAttribute("aria-labelledby").split(" ")[0]).textContent,
  width: e.getBoundingClientRect().width}))"""

LANGUAGES = ["vi", "en"]
WIDTHS = {"390": PHONE, "1280": DESK}


@pytest.fixture(autouse=True)
def all_on(live, world: World):
    """The permissions the tests turn off are on at the start of each, whatever an earlier
    test left."""
    from app.extensions import db
    from app.models.connections import ConnectionPermission

    cids = [world.connections[pair] for pair in (("cuc", "binh"), ("an", "hoa"))]
    with live.app.app_context():
        for permission_row in db.session.scalars(select(ConnectionPermission).where(
                ConnectionPermission.contact_id.in_(cids),
                ConnectionPermission.permission_code.in_(("health_overview", "emergency_alert")))):
            permission_row.is_enabled = True
        db.session.commit()
        db.session.remove()




def boxes(page: Page, selector: str) -> list[dict]:
    return page.evaluate(_BOXES, selector)


def fits(page: Page, where: str) -> None:
    """No sideways scrolling, and every switch and action inside the viewport's width."""
    screen = page.evaluate(_SCREEN)
    assert screen["scroll"] <= screen["width"], f"{where}: the page scrolls sideways: {screen}"
    controls = boxes(page, "table.matrix [role=switch], table.matrix td.actions > a,"
                           " table.matrix td.actions > button")
    assert controls, f"{where}: no switch or action shown"
    out = [c["key"] for c in controls
           if c["left"] < -0.5 or c["right"] > screen["width"] + 0.5 or c["width"] < 24]
    assert out == [], f"{where}: outside the viewport's width (or too small): {out}"


def whole_in_view(page: Page, selectors: list[str], where: str) -> None:
    """Each element is entirely inside the viewport, as the page is scrolled now."""
    screen = page.evaluate(_SCREEN)
    for selector in selectors:
        box = page.locator(selector).bounding_box()
        assert box is not None, f"{where}: {selector} is not shown"
        inside = (box["x"] >= -0.5 and box["y"] >= -0.5
                  and box["x"] + box["width"] <= screen["width"] + 0.5
                  and box["y"] + box["height"] <= screen["height"] + 0.5)
        assert inside, f"{where}: {selector} is not whole in the viewport: {box}, {screen}"


def unmoved(before: list[dict], after: list[dict], where: str) -> None:
    """The controls still on the page are where they were (a step moved nothing)."""
    now = {b["key"]: b for b in after}
    moved = [(b["key"], b, now[b["key"]]) for b in before if b["key"] in now
             and any(abs(b[side] - now[b["key"]][side]) > 0.5
                     for side in ("left", "right", "top", "bottom"))]
    assert moved == [], f"{where}: the layout moved: {moved[:3]}"
    assert len(now) >= len(before) - 1, f"{where}: controls went away"


def laid_out(page: Page, width: str, where: str) -> None:
    """At a desk, headers of at most three lines and no empty column; on a phone, every
    switch is a line as wide as its card that shows its label."""
    if width == "1280":
        headers = page.evaluate(_HEADER_LINES)
        tall = [h for h in headers if h["lines"] > 3]
        assert tall == [], f"{where}: headers wrap to more than three lines: {tall}"
        for table in page.evaluate(_FILLED_COLUMNS):
            assert len(table["filled"]) == table["columns"], f"{where}: {table}"
            assert all(table["filled"]), f"{where}: an empty column: {table}"
    else:
        for switch in page.evaluate(_LABELS):
            assert switch["label"] == f'"{switch["header"]}"', f"{where}: {switch}"
            assert switch["width"] >= 200, f"{where}: {switch}"


def check_the_matrix(page: Page, live, shots, *, lang: str, width: str, off: tuple[int, str],
                     emergency: tuple[int, str], disconnect: int, caregiver: str,
                     permission_name: str) -> None:
    """The checks of the module's docstring on the page as it is loaded."""
    where = f"{page.url} at {width} px in {lang}"
    page.wait_for_load_state("load")
    fits(page, where)
    laid_out(page, width, where)
    page.screenshot(path=shots / "01-page.png", full_page=True)
    if width == "390":  # the whole page is too tall to look at: a screen of each table too
        for n, table in enumerate(page.locator("table.matrix").all(), 1):
            table.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.screenshot(path=shots / f"01-table-{n}.png")
        page.locator("tr.is-revoked").evaluate("e => e.scrollIntoView({block: 'center'})")
        page.screenshot(path=shots / "01-disconnected.png")
    switches = "table.matrix [role=switch]"

    # The stronger step before emergency alerts go off, then "Keep it on".
    cid, code = emergency
    before = boxes(page, switches)
    page.locator(f'[role=switch][value^="{cid} {code} "]').click()
    expect(page.locator(f"#connection-{cid}-{code}")).to_be_focused()
    whole_in_view(page, [f"#connection-{cid}-{code}-turn-off", f"#connection-{cid}-{code}-keep"],
                  where + ", emergency alerts off?")
    unmoved(before, boxes(page, switches), where + ", emergency alerts off?")
    fits(page, where + ", emergency alerts off?")
    page.screenshot(path=shots / "02-emergency-asks.png")
    page.locator(f"#connection-{cid}-{code}-keep").click()
    expect(page.locator(f'[role=switch][value="{cid} {code} off"]')).to_be_focused()
    assert permission(live, cid, code) is True

    # The step before another permission goes off; "Turn off"; the live region says so.
    cid, code = off
    page.locator(f'[role=switch][value="{cid} {code} off"]').click()
    expect(page.locator(f"#connection-{cid}-{code}")).to_be_focused()
    whole_in_view(page, [f"#connection-{cid}-{code}-turn-off", f"#connection-{cid}-{code}-keep"],
                  where + ", turn off?")
    unmoved(before, boxes(page, switches), where + ", turn off?")
    page.screenshot(path=shots / "03-off-asks.png")
    page.locator(f"#connection-{cid}-{code}-turn-off").click()
    switch = page.locator(f'[role=switch][value^="{cid} {code} "]')
    expect(switch).to_have_attribute("aria-checked", "false")
    said = TURNED[lang]
    flashes = page.locator("#flashes")
    expect(flashes).to_have_text(said["off"].format(permission=permission_name,
                                                    caregiver=caregiver))
    whole_in_view(page, ["#flashes .flash"], where + ", turned off")
    page.screenshot(path=shots / "04-turned-off.png")
    assert permission(live, cid, code) is False
    switch.click()  # on again, at once
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(flashes).to_have_text(said["on"].format(permission=permission_name,
                                                   caregiver=caregiver))
    assert permission(live, cid, code) is True

    # The step before a disconnect: its buttons whole in view; Cancel.
    before = boxes(page, switches + ", table.matrix td.actions > a")
    page.locator(f"#connection-{disconnect}-disconnect").click()
    expect(page.locator(f"#disconnect-{disconnect}")).to_be_focused()
    cancel = f"#disconnect-{disconnect} form a"
    whole_in_view(page, [f"#disconnect-{disconnect}-confirm", cancel], where + ", disconnect?")
    unmoved(before, boxes(page, switches + ", table.matrix td.actions > a"),
            where + ", disconnect?")
    fits(page, where + ", disconnect?")
    page.screenshot(path=shots / "05-disconnect-asks.png")
    page.locator(cancel).click()  # closes it in place
    expect(page.locator(f"#disconnect-{disconnect}")).to_have_count(0)
    expect(page.locator(f"#connection-{disconnect}-disconnect")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_admins_matrix_fits(live, world: World, new_page, screenshots, lang, width):
    page = new_page("en-US" if lang == "en" else "vi-VN")
    page.set_viewport_size(WIDTHS[width])
    log_in(page, live, world["an"].phone, lang)
    page.goto(live.url(f"/family/{world.group_id}"))
    check_the_matrix(page, live, screenshots, lang=lang, width=width,
                     off=(world.connections["cuc", "binh"], "health_overview"),
                     emergency=(world.connections["an", "hoa"], "emergency_alert"),
                     disconnect=world.connections["lan", "hoa"], caregiver=world["cuc"].name,
                     permission_name=page.locator(f"#h{world['binh'].id}-1").inner_text())


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_patients_followers_fit(live, world: World, new_page, screenshots, lang, width):
    page = new_page("en-US" if lang == "en" else "vi-VN")
    page.set_viewport_size(WIDTHS[width])
    log_in(page, live, world["hoa"].phone, lang)
    page.goto(live.url("/followers"))
    check_the_matrix(page, live, screenshots, lang=lang, width=width,
                     off=(world.connections["an", "hoa"], "health_overview"),
                     emergency=(world.connections["lan", "hoa"], "emergency_alert"),
                     disconnect=world.connections["cuc", "hoa"], caregiver=world["an"].name,
                     permission_name=page.locator(f"#h{world['hoa'].id}-1").inner_text())
