"""Every main page of every role, on a phone and at a desk, in both languages (issue 18).

The live server holds the demo data (`flask demo-data`, app/demo.py), so these are the
pages a newcomer opens with the demo accounts. For each page, in Chromium at 390 and
1280 px, in Vietnamese and English: it answers 200; the page never scrolls sideways; every
control in main (links, buttons, switches, fields) is inside the window's width unless it
sits in a box that scrolls on its own (a wide staff table); and the page is kept as a
screenshot (test-output/screenshots/<backend>/test_every_main_page_<lang>_/) to look at.
Each role's home shows that person's own things.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.extensions import db
from tests.browser.story import DESK, PHONE, log_in, pass_staff_step, use_language

# What a window that scrolls sideways shows, and the controls beyond its right edge
# (those inside their own scrolling box, such as a wide table, excepted).
_OUTSIDE = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = e => { for (let p = e.parentElement; p; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX; if (x === "auto" || x === "scroll") return true; }
    return false; };
  const out = [...document.querySelectorAll(
      "main a, main button, main input:not([type=hidden]), main select, main textarea,"
      + " header *, nav *")]
    .filter(e => e.checkVisibility() && !scrolls(e))
    .filter(e => { const b = e.getBoundingClientRect();
                   return b.width > 0 && (b.right > width + 0.5 || b.left < -0.5); })
    .map(e => e.outerHTML.slice(0, 100));
  return {scroll: document.documentElement.scrollWidth, width, out};
}"""

# The permission matrix's switches and actions, wherever they sit: none may need a
# sideways scroll, not even inside a box of its own (issue 18).
_MATRIX_OUTSIDE = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll("[role=switch], table.matrix td.actions a")]
    .filter(e => e.checkVisibility())
    .filter(e => { const b = e.getBoundingClientRect();
                   return b.right > width + 0.5 || b.left < -0.5; })
    .map(e => e.outerHTML.slice(0, 100));
}"""
MATRIX_PAGES = {("admin", "family"), ("patient", "followers")}

DEMO_PASSWORD = "giadinh2026"  # app/demo.py's published password
PEOPLE = {"admin": "0912345678", "caregiver": "0901234567", "patient": "0987654321",
          "staff": "0900000001"}


@pytest.fixture(scope="module")
def demo(live):
    """The demo family on the live server's database: ids by name."""
    from app.demo import load_demo_data
    from app.models.accounts import User
    from app.models.groups import FamilyGroup

    with live.app.app_context():
        load_demo_data()
        db.session.commit()
        users = {u.name: u.id for u in db.session.scalars(db.select(User))}
        group_id = db.session.scalar(db.select(FamilyGroup.id))
        db.session.remove()
    return {"users": users, "group": group_id}


def pages(demo) -> dict[str, list[tuple[str, str]]]:
    """role → (name, path) of its main pages."""
    group, users = demo["group"], demo["users"]
    binh = users["Nguyễn Văn Bình"]
    return {
        "visitor": [("home", "/"), ("login", "/account/login"), ("signup", "/account/register")],
        "admin": [("home", "/"), ("family", f"/family/{group}"),
                  ("invite", f"/family/{group}/invites"), ("plan", "/plan"),
                  ("notifications", "/notifications"), ("settings", "/account/settings")],
        "caregiver": [("home", "/"), ("following", "/following"), ("patient", f"/following/{binh}"),
                      ("notifications", "/notifications"), ("invites", "/invites")],
        "patient": [("home", "/"), ("followers", "/followers"),
                    ("notifications", "/notifications")],
        "staff": [("home", "/"), ("search", "/staff?q=0912"), ("queue", "/staff/queue"),
                  ("person", f"/staff/users/{binh}"), ("family", f"/staff/groups/{group}")],
    }






def fits(page: Page) -> dict:
    return page.evaluate(_OUTSIDE)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_main_page(live, demo, browser, screenshots, lang):
    problems = []
    for role, visits in pages(demo).items():
        context = browser.new_context(locale=f"{lang}-VN" if lang == "vi" else "en-GB",
                                      viewport=DESK)
        try:
            page = context.new_page()
            page.set_default_timeout(10_000)
            page.goto(live.url("/"))
            use_language(page, lang)
            if role != "visitor":
                log_in(page, live, PEOPLE[role], lang, password=DEMO_PASSWORD)
            if role == "staff":
                pass_staff_step(page, live, PEOPLE[role])
            for name, path in visits:
                response = page.goto(live.url(path))
                assert response.status == 200, (role, path, response.status)
                expect(page.locator("html")).to_have_attribute("lang", lang)
                for label, size in (("390", PHONE), ("1280", DESK)):
                    page.set_viewport_size(size)
                    found = fits(page)
                    if found["scroll"] > found["width"] or found["out"]:
                        problems.append((role, name, label, found))
                    if (role, name) in MATRIX_PAGES:
                        assert page.locator("[role=switch]").count() > 0, (role, name)
                        outside = page.evaluate(_MATRIX_OUTSIDE)
                        if outside:
                            problems.append((role, name, label, "matrix", outside))
                    page.screenshot(path=screenshots / f"{role}-{name}-{label}px.png",
                                    full_page=True)
                page.set_viewport_size(DESK)
        finally:
            context.close()
    assert problems == []


HOME_SHOWS = {
    # role → what their home shows of their own things, by element id and words in it
    "admin": {"#dash-family": ["Gia đình Nguyễn"], "#dash-places-caregiver": [],
              "#dash-invites": ["0944 555 666"], "#dash-changes": ["Lê Văn Dũng"]},
    "caregiver": {"#dash-following": ["Nguyễn Văn Bình", "Trần Thị Hoa"]},
    "patient": {"#dash-followers": ["Nguyễn Thị Cúc", "Lê Văn Dũng"]},
    "staff": {"#dash-staff": [], "#dash-search input[name=q]": []},
}
HOME_HIDES = {  # the main menu offers only the role's pages
    "admin": ["#nav-followers", "#nav-following"],
    "caregiver": ["#nav-plan", "#nav-followers", "#nav-family"],
    "patient": ["#nav-following", "#nav-plan", "#nav-family"], "staff": ["#nav-family"],
}


@pytest.mark.parametrize("role", ["admin", "caregiver", "patient", "staff"])
def test_home_shows_the_users_own_things(live, demo, new_page, role):
    page = new_page()
    log_in(page, live, PEOPLE[role], password=DEMO_PASSWORD)
    if role == "staff":
        pass_staff_step(page, live, PEOPLE[role])  # the demo's staff sets up the app
    page.goto(live.url("/"))
    for selector, words in HOME_SHOWS[role].items():
        expect(page.locator(selector)).to_be_visible()
        for word in words:
            expect(page.locator(selector)).to_contain_text(word)
    for selector in HOME_HIDES[role]:
        expect(page.locator(selector)).to_have_count(0)
    if role == "admin":
        # The demo leaves one caregiver place free, so a newcomer can invite at once.
        expect(page.locator("#dash-invite-caregiver")).to_be_visible()
        expect(page.locator("#dash-more-patient")).to_be_visible()
    if role == "caregiver":
        # What Cúc may see of Bình now: the six permissions, by name.
        expect(page.locator(f"#dash-following-{demo['users']['Nguyễn Văn Bình']} .chip")
               ).to_have_count(6)
    if role == "staff":
        expect(page.locator("#dash-queue")).to_have_text(re.compile(r"\d"))
