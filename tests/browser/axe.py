"""axe-core (vendored from the npm registry, see vendor/axe-core/VERSION.txt) run on a page.

The app never serves axe: the tests inject it through the DevTools protocol
(page.evaluate, or an init script for every document of a context), which the page's
Content-Security-Policy does not govern, so the CSP
stays exactly as the app sends it (`script-src 'self'`). A <script> tag with the same
source (page.add_script_tag) is refused by that CSP, and the browser fixtures fail the
test on the CSP report; tests/browser/test_accessibility.py proves both.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

from playwright.sync_api import Page

VENDOR = Path(__file__).parent / "vendor" / "axe-core"
# WCAG 2.0 and 2.1, levels A and AA, and Deque's best practices.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = ("serious", "critical")

_RUN = """async (tags) => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.map(String).join(" "),
                              summary: n.failureSummary || ""}))}));
}"""


@cache
def axe_source() -> str:
    """axe.min.js, after checking it is the file VERSION.txt names (sha256)."""
    source = (VENDOR / "axe.min.js").read_bytes()
    expected = re.search(r"axe\.min\.js: sha256 ([0-9a-f]{64})",
                         (VENDOR / "VERSION.txt").read_text()).group(1)
    assert hashlib.sha256(source).hexdigest() == expected, "axe.min.js differs from VERSION.txt"
    return source.decode()


def axe_preload(page: Page) -> None:
    """Have axe loaded into every later document of the page's browser context (sent to
    the browser once, instead of once per page audited)."""
    page.context.add_init_script(script=axe_source())


def axe_inject(page: Page) -> None:
    """Load axe into the page's current document (once per document)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())


def axe_violations(page: Page) -> list[dict]:
    """Every violation axe finds on the page as it is now: dicts with id, impact, help,
    helpUrl and nodes (target selector, failure summary)."""
    axe_inject(page)
    return page.evaluate(_RUN, TAGS)


def blocking(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in BLOCKING]


def describe(violations: list[dict], where: str = "") -> str:
    """A readable account: one line per rule, then its elements and what to fix."""
    lines = []
    for v in violations:
        lines.append(f"{where}[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:8]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    {node['target']}  — {summary[:300]}")
        if len(v["nodes"]) > 8:
            lines.append(f"    … and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


def assert_no_serious_violations(page: Page, where: str = "") -> list[dict]:
    """Fail on any violation of serious or critical impact; return the lesser ones."""
    violations = axe_violations(page)
    serious = blocking(violations)
    assert not serious, "axe found serious or critical violations:\n" + describe(serious, where)
    return [v for v in violations if v not in serious]
