"""Accessibility of the main pages, in Chromium, in Vietnamese and in English.

Every page of each role is checked twice over: by axe-core (WCAG 2.0/2.1 A and AA and
best practices; any violation of serious or critical impact fails), and by the checks the
issue states, read from Chromium's own accessibility tree: every form control has an
accessible name, the permission toggles are switches (or checkboxes) named for the
permission, the caregiver and the patient, every page has its banner, navigation and
main landmarks and a skip link to main first in the tab order, and its headings start
at one h1 and skip no level.

Lesser axe findings (moderate, minor) do not fail; they are written to
test-output/accessibility/<backend>/<test>.txt to be read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from app.models.connections import PERMISSION_CODES
from tests.browser.axe import axe_preload, axe_source, axe_violations, blocking, describe
from tests.browser.conftest import ROOT
from tests.browser.story import log_in, pass_staff_step, use_language
from tests.browser.world import World
from tests.conftest import BACKEND
from tests.factories import PASSWORD, national, next_phone

LANGUAGES = ["vi", "en"]
# Chromium's roles for what a person fills in, picks or presses.
CONTROL_ROLES = {"textbox", "searchbox", "combobox", "listbox", "checkbox", "radio", "switch",
                 "spinbutton", "slider", "button", "menuitemcheckbox", "menuitemradio"}
LANDMARKS = ("banner", "navigation", "main")

_HEADINGS = """() => [...document.querySelectorAll("h1,h2,h3,h4,h5,h6,[role=heading]")]
  .filter(e => !e.closest("[hidden],[aria-hidden=true]")
               && e.checkVisibility({visibilityProperty: true}))
  .map(e => ({level: Number(e.getAttribute("aria-level") || e.tagName.slice(1)),
              text: e.textContent.trim().replace(/\\s+/g, " ").slice(0, 60)}))"""

# A name from a placeholder or a title is not a label: every field a person fills in or
# picks has a visible <label> (or is labelled by visible text).
_UNLABELLED_FIELDS = """() => [...document.querySelectorAll(
    "input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset])"
    + ":not([type=image]), select, textarea")]
  .filter(e => e.labels.length === 0 && !e.getAttribute("aria-labelledby"))
  .map(e => e.outerHTML.slice(0, 120))"""

_SKIP_LINK_FIRST = """() => {
  const first = document.body.querySelector(
    "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])");
  const main = document.getElementById("main");
  return !!first && first.getAttribute("href") === "#main" && !!main && main.tagName === "MAIN";
}"""


class Audit:
    """The findings on every page a test visits, reported together at the end."""

    def __init__(self, page: Page, lang: str, base_url: str):
        self.page, self.lang, self.base_url = page, lang, base_url
        axe_preload(page)
        self.failures: list[str] = []
        self.lesser: list[str] = []
        self.pages = 0

    def visit(self, path: str, *, status: int = 200) -> None:
        response = self.page.goto(self.base_url + path)
        assert response is not None
        assert response.status == status, f"{path}: {response.status}"
        self.check(path)

    def check(self, where: str) -> None:
        """axe, then the structural checks, on the page as it is now."""
        page = self.page
        expect(page.locator("html")).to_have_attribute("lang", self.lang)
        self.pages += 1
        tag = f"{where} ({self.lang}): "
        violations = axe_violations(page)
        serious = blocking(violations)
        if serious:
            self.failures.append(describe(serious, tag))
        lesser = [v for v in violations if v not in serious]
        if lesser:
            self.lesser.append(describe(lesser, tag))
        self.failures += [tag + problem for problem in structure_problems(page)]

    def done(self, name: str) -> None:
        folder = Path(os.environ.get("TEST_OUTPUT") or ROOT / "test-output") / "accessibility"
        folder = folder / BACKEND
        folder.mkdir(parents=True, exist_ok=True)
        report = folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".txt")
        report.write_text("\n".join(self.lesser) + "\n" if self.lesser else "no findings\n")
        assert not self.failures, (f"{len(self.failures)} accessibility problem(s) on "
                                   f"{self.pages} pages:\n" + "\n".join(self.failures))


def ax_tree(page: Page) -> list[dict]:
    """Chromium's accessibility tree of the page (what a screen reader is given)."""
    cdp = page.context.new_cdp_session(page)
    try:
        return cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()


def _value(node: dict, key: str) -> str:
    return str((node.get(key) or {}).get("value") or "").strip()


def structure_problems(page: Page) -> list[str]:
    """Unnamed controls, fields without a label, missing landmarks, no skip link to main
    first in the tab order, and a heading outline that does not start at one h1 or that
    skips a level."""
    problems = []
    nodes = [n for n in ax_tree(page) if not n.get("ignored")]
    for node in nodes:
        if _value(node, "role") in CONTROL_ROLES and not _value(node, "name"):
            problems.append(f"a {_value(node, 'role')} without an accessible name: "
                            f"{_describe_node(page, node)}")
    roles = [_value(n, "role") for n in nodes]
    problems += [f"no {landmark} landmark" for landmark in LANDMARKS if landmark not in roles]
    if roles.count("main") > 1:
        problems.append(f"{roles.count('main')} main landmarks")
    problems += [f"a form field without a <label> (or aria-labelledby): {field}"
                 for field in page.evaluate(_UNLABELLED_FIELDS)]
    if not page.evaluate(_SKIP_LINK_FIRST):
        problems.append("the first thing Tab reaches is not a skip link to main (#main)")
    headings = page.evaluate(_HEADINGS)
    ones = [h for h in headings if h["level"] == 1]
    if len(ones) != 1:
        problems.append(f"{len(ones)} h1 headings: {ones}")
    elif headings[0]["level"] != 1:
        problems.append(f"the first heading is not the h1: {headings[0]}")
    for before, after in zip(headings, headings[1:], strict=False):
        if after["level"] > before["level"] + 1:
            problems.append(f"heading level skipped: h{before['level']} “{before['text']}” "
                            f"→ h{after['level']} “{after['text']}”")
    return problems


def _describe_node(page: Page, node: dict) -> str:
    cdp = page.context.new_cdp_session(page)
    try:
        described = cdp.send("DOM.describeNode", {"backendNodeId": node["backendDOMNodeId"]})
    except PlaywrightError:
        return "?"
    finally:
        cdp.detach()
    dom = described["node"]
    attributes = dom.get("attributes", [])
    pairs = dict(zip(attributes[::2], attributes[1::2], strict=False))
    return f"<{dom['nodeName'].lower()} " + " ".join(
        f'{k}="{v}"' for k, v in pairs.items() if k in ("id", "name", "type", "class")) + ">"


# --- browser steps --------------------------------------------------------------------






def logged_in(new_page, live, phone: str, lang: str) -> Audit:
    page = new_page("en-US" if lang == "en" else "vi-VN", refusals_ok=True)
    log_in(page, live, phone, lang)
    return Audit(page, lang, live.base_url)


# --- the pages ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_visitor_pages(live, world, new_page, request, lang):
    """Home, login, sign-up (empty and refused), the invite link and its sign-up, a 404;
    sign-up's code page and the forgotten password's two pages, each also refused."""
    page = new_page(refusals_ok=True)  # the refused sign-up (422) and the 404 are on purpose
    page.goto(live.url("/"))
    use_language(page, lang)
    audit = Audit(page, lang, live.base_url)
    audit.check("/")
    audit.visit("/account/login")
    audit.visit("/account/register")
    page.locator("#register-form button[type=submit]").click()  # empty: every error shown
    expect(page.locator("#register-form .error").first).to_be_visible()
    audit.check("/account/register, refused")
    audit.visit("/account/new-link")
    audit.visit(f"/i/{world.invite_token}")
    audit.visit("/i/login")
    audit.visit("/i/signup")
    audit.visit("/no/such/page", status=404)
    # Sign-up's second step (ID-001) as the register form leaves it, then refused.
    page.goto(live.url("/account/register"))
    page.locator("#phone").fill(national(next_phone()))
    page.locator("#name").fill("Trần Thị Mai")
    page.locator("#register-form input[name=gender]").first.check()
    page.locator("#password").fill(PASSWORD)
    page.locator("#register-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/account/register/verify$"))
    audit.check("/account/register/verify")
    page.locator("#register-verify-form button[type=submit]").click()  # no code
    expect(page.locator("#register-verify-form .error").first).to_be_visible()
    audit.check("/account/register/verify, refused")
    # The forgotten password (ID-002): the number, then the code and the new password
    # (a number with no account: the pages answer the same, and no SMS goes out).
    page.goto(live.url("/account/login"))
    page.locator("#forgot-password").click()
    page.wait_for_url(re.compile(r"/account/password-reset$"))
    audit.check("/account/password-reset")
    page.locator("#phone").fill(national(next_phone()))
    page.locator("#password-reset-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/account/password-reset/confirm$"))
    audit.check("/account/password-reset/confirm")
    page.locator("#password-reset-confirm-form button[type=submit]").click()  # empty
    expect(page.locator("#password-reset-confirm-form .error").first).to_be_visible()
    audit.check("/account/password-reset/confirm, refused")
    audit.done(request.node.name)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_admin_pages(live, world, new_page, request, lang):
    """The family admin: home, plan, the family page with its permission matrix (its
    switches, and its inline confirmations open), the invite form, notifications,
    settings, a connection's history, the confirmation pages of a disconnect (one
    connection, one caregiver) and of a removal, and a 404."""
    audit = logged_in(new_page, live, world["an"].phone, lang)
    page, group = audit.page, world.group_id
    cuc_binh = world.connections["cuc", "binh"]
    audit.visit("/")
    audit.visit("/plan")
    audit.visit(f"/family/{group}")
    audit.failures += toggle_problems(page, world, world.connections)
    # The inline steps, as htmx puts them in the page.
    page.locator(f'[role=switch][value^="{cuc_binh} health_overview "]').click()
    expect(page.locator(f"#connection-{cuc_binh}-health_overview-turn-off")).to_be_visible()
    page.locator(f"#connection-{world.connections['cuc', 'hoa']}-disconnect").click()
    expect(page.locator(f"#disconnect-{world.connections['cuc', 'hoa']}")).to_be_visible()
    page.locator(f"#caregiver-{world['dung'].id}-disconnect-link").click()
    expect(page.locator(f"#caregiver-{world['dung'].id}-disconnect")).to_be_visible()
    audit.check(f"/family/{group}, confirmations open")
    audit.visit(f"/family/{group}/invites")
    audit.visit("/notifications")
    expect(page.locator("#notification-list li").first).to_be_visible()  # Lan joined
    audit.visit("/account/settings")
    # issue 19: my data, deleting (refused up front for an admin), handing over
    audit.visit("/me/data")
    audit.visit("/me/delete")
    audit.visit(f"/family/{group}/hand-over")
    audit.visit(f"/connections/{cuc_binh}/disconnect")
    audit.visit(f"/family/{group}/caregivers/{world['cuc'].id}/disconnect")
    audit.visit(f"/connections/{world.connections['dung', 'hoa']}/history")
    audit.visit(f"/family/{group}/members/{world['cuc'].id}/remove?role=caregiver")
    audit.visit(f"/family/{group + 1000}", status=404)
    audit.done(request.node.name)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_caregiver_pages(live, world, new_page, request, lang):
    """A caregiver: the family list, the patients followed, a patient's page, reports,
    one report, the relationship page, pending invites, notifications."""
    audit = logged_in(new_page, live, world["lan"].phone, lang)
    binh = world["binh"].id
    audit.visit("/")  # the dashboard: the patients followed and what Lan may do
    expect(audit.page.locator("#dash-following")).to_be_visible()
    audit.visit("/family")
    audit.visit(f"/family/{world.group_id}")
    audit.visit("/following")
    audit.visit(f"/following/{binh}")
    audit.visit(f"/following/{binh}/reports")
    audit.visit(f"/following/{binh}/reports/{world.report_id}")
    audit.visit(f"/connections/{world.connections['lan', 'binh']}/relationship")
    audit.visit("/invites")
    audit.visit("/notifications")
    audit.done(request.node.name)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_patient_and_plan_owner_pages(live, world, new_page, request, lang):
    """A patient's followers (their own switches) and notifications; a plan owner with no
    family yet: the create form."""
    audit = logged_in(new_page, live, world["hoa"].phone, lang)
    audit.visit("/")
    expect(audit.page.locator("#dash-followers")).to_be_visible()
    audit.visit("/followers")
    expect(audit.page.locator("#notifications-link .badge")).to_be_visible()  # turned on
    audit.failures += toggle_problems(audit.page, world, {
        pair: cid for pair, cid in world.connections.items() if pair[1] == "hoa"})
    audit.visit("/notifications")
    audit.visit(f"/family/{world.group_id}")
    # issue 19: withdrawing consent, my data with its export form, deleting the account
    audit.visit("/followers/withdraw-consent")
    audit.visit("/me/data")
    audit.visit("/me/delete")
    audit.done(request.node.name + "-patient")
    audit = logged_in(new_page, live, world["owner"].phone, lang)
    audit.visit("/")  # in no family yet: invites waiting, how to start one
    expect(audit.page.locator("#dash-start")).to_be_visible()
    audit.visit("/family")
    audit.visit("/plan")
    audit.done(request.node.name + "-owner")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_unproved_account_pages(live, world, new_page, request, lang):
    """An account whose number was never proved (ID-001): its phone page (send a code,
    type it) and that page refusing an empty code, "My invites" refused (403
    phone_unverified) with the button to prove the number, and settings saying so."""
    audit = logged_in(new_page, live, world["tam"].phone, lang)
    page = audit.page
    audit.visit("/account/phone")
    expect(page.locator("#phone-send-form")).to_be_visible()
    page.locator("#phone-confirm-form button[type=submit]").click()  # no code
    expect(page.locator("#phone-confirm-form .error").first).to_be_visible()
    audit.check("/account/phone, refused")
    audit.visit("/invites", status=403)
    expect(page.locator("#prove-phone")).to_be_visible()
    audit.visit("/account/settings")
    expect(page.locator("#settings-phone a")).to_be_visible()
    audit.done(request.node.name)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_staff_pages(live, world, new_page, request, lang):
    """Staff: user search (and a result), families, a family and a user (each after its
    reason step), the export's reason step, the review queue, activation codes."""
    audit = logged_in(new_page, live, world["staff"].phone, lang)
    pass_staff_step(audit.page, live, world["staff"].phone)
    audit.visit("/")  # the dashboard: the queue's count and the search
    expect(audit.page.locator("#dash-staff")).to_be_visible()
    audit.visit("/staff/")
    audit.visit("/staff/?q=" + world["an"].phone)
    expect(audit.page.locator("#user-results")).to_be_visible()
    audit.visit("/staff/groups")
    for path in (f"/staff/groups/{world.group_id}", f"/staff/users/{world['an'].id}"):
        audit.visit(path)  # the reason step (issue 21), then the page it opens
        audit.page.select_option("#reason-code", "support")
        audit.page.click("#reason-button")
        expect(audit.page.locator("#audit")).to_be_visible()
        audit.check(path + ", opened")
    audit.visit(f"/staff/groups/{world.group_id}/audit.csv")  # the export's reason step
    audit.visit("/staff/queue")
    audit.visit("/staff/codes")
    audit.done(request.node.name)


# --- what axe alone does not say: the permission switches ------------------------------

SWITCH_RE = re.compile(r'^\s*- (switch|checkbox) "(?P<name>[^"]+)"(?P<states>(?: \[[^\]]+\])*)')
_CELLS = """() => [...document.querySelectorAll(
    "#permissions table.matrix tbody td:not(.status):not(.actions),"
    + " .followers table.matrix tbody td:not(.status):not(.actions)")].map(cell => {
  const controls = cell.querySelectorAll("input[type=checkbox], [role=switch]");
  const pressed = controls.length ? controls[0].value.split(" ") : ["?", "?"];
  return {id: `connection-${pressed[0]}-${pressed[1]}`, controls: controls.length};
})"""


def toggle_problems(page: Page, world: World, shown: dict[tuple[str, str], int]) -> list[str]:
    """Each permission of each connection shown is one switch (or checkbox) whose
    accessible name says which permission (its column's header), for which caregiver, of
    which patient, with its state exposed; the revoked connection's are disabled."""
    problems = []
    cells = {cell["id"]: cell["controls"] for cell in page.evaluate(_CELLS)}
    expected: dict[str, str] = {}
    for (caregiver, patient), cid in shown.items():
        for code in PERMISSION_CODES:
            cell = f"connection-{cid}-{code}"
            if cells.get(cell) != 1:
                problems.append(f"{cell}: {cells.get(cell, 0)} switches or checkboxes, not 1")
            # its column's header, which names it (aria-labelledby's first id)
            labelled = page.locator(f'[role=switch][value^="{cid} {code} "]').get_attribute(
                "aria-labelledby") or "?"
            header = page.locator(f"thead #{labelled.split()[0]}").inner_text().strip()
            expected[f"{header} — {world[caregiver].name} → {world[patient].name}"] = (
                "disabled" if (caregiver, patient) == ("dung", "hoa") else "enabled")
    if len(cells) != len(expected):
        problems.append(f"{len(cells)} permission cells, {len(expected)} expected")
    found: dict[str, str] = {}
    for line in page.locator("main").aria_snapshot().splitlines():
        match = SWITCH_RE.match(line)
        if match:
            found[match["name"]] = "disabled" if "[disabled]" in match["states"] else "enabled"
    for name, state in expected.items():
        if name not in found:
            problems.append(f"no switch named “{name}”")
        elif found[name] != state:
            problems.append(f"the switch “{name}” is {found[name]}, not {state}")
    problems += [f"a switch named “{name}” that is no permission of a connection shown"
                 for name in found if name not in expected]
    return problems


def test_axe_runs_under_the_apps_csp_without_weakening_it(live, browser):
    """axe goes in through the DevTools protocol; the same source as a <script> in the
    page is refused by the app's CSP, which the tests therefore run under unchanged."""
    context = browser.new_context()
    try:
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda msg: violations.append(msg.text)
                if "Content Security Policy" in msg.text else None)
        response = page.goto(live.url("/account/login"))
        assert "script-src 'self'" in response.headers["content-security-policy"]
        with pytest.raises(PlaywrightError, match="Content Security Policy"):
            page.add_script_tag(content=axe_source())
        assert page.evaluate("typeof window.axe") == "undefined"
        assert violations
        assert axe_violations(page) == []
        assert page.evaluate("typeof window.axe.run") == "function"
    finally:
        context.close()


def test_the_checks_see_what_they_look_for(live, world, new_page):
    """The checks are not vacuous: on a real page made worse in place (an unlabelled
    field, grey on grey text, a heading that skips a level, a second h1, an unnamed
    switch), axe and the structural checks report each of them."""
    page = new_page()
    page.goto(live.url("/account/login"))
    assert axe_violations(page) == []
    assert structure_problems(page) == []
    page.evaluate("""() => {
      const main = document.querySelector("main");
      main.insertAdjacentHTML("beforeend", '<h4>Deep</h4><h1>Again</h1>'
        + '<input type="text" name="nameless">'
        + '<p id="faint">faint</p>'
        + '<button type="button" role="switch" aria-checked="true"></button>');
      const faint = document.getElementById("faint");  // CSSOM: the CSP refuses style=""
      faint.style.color = "#aaa";
      faint.style.background = "#bbb";
      document.querySelector("header").remove();
      document.querySelector(".skip-link").remove();
    }""")
    violations = axe_violations(page)
    assert {"label", "color-contrast", "button-name"} <= {v["id"] for v in blocking(violations)}
    assert "<input" in describe(violations) or "nameless" in describe(violations)
    problems = "\n".join(structure_problems(page))
    for expected in ("a textbox without an accessible name", 'name="nameless"',
                     "a form field without a <label>",
                     "a switch without an accessible name", "no banner landmark",
                     "no navigation landmark", "2 h1 headings", "heading level skipped",
                     "not a skip link"):
        assert expected in problems, problems
