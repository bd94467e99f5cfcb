"""Security headers on every GET of the URL map, and pages the CSP does not break
(issue 7, item 3).

Every GET rule is listed in PAGES with who may open it, its ids filled from the seeded world
(tests/security/conftest.py), and is fetched over HTTPS: the answer must be a success and
carry a Content-Security-Policy whose scripts are the site's own files only (no
'unsafe-inline', no 'unsafe-eval'), frame-ancestors 'none', nosniff, a Referrer-Policy,
and HSTS (app/__init__.py: on every HTTPS answer outside development). Its HTML has no
inline script, no on…= handler and no style attribute or element, which that CSP would
block, and every page that loads htmx configures it for the CSP. A GET rule missing from PAGES
fails test_the_walk_knows_every_get_rule.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from tests.conftest import make_app
from tests.security.conftest import PEOPLE, as_who, fill

HTTPS = "https://localhost"
# /metrics answers only its token's holder (app/metrics.py); the walk configures one.
METRICS_TOKEN = "walk-metrics-" + "w" * 24
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    who: str
    query: str = ""
    htmx: bool = False
    given: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


PAGES: dict[str, Case] = {
    "/": Case("anon"),
    "/account/login": Case("anon"),
    "/account/new-link": Case("anon"),
    "/account/password-reset": Case("anon"),
    "/account/password-reset/confirm": Case("anon"),
    "/account/phone": Case("unproved"),
    "/account/register": Case("anon"),
    "/account/register/verify": Case("anon"),
    "/account/settings": Case("admin"),
    "/me/data": Case("admin"),
    "/me/delete": Case("caregiver"),
    "/me/deleted": Case("anon"),
    "/api/docs": Case("anon"),
    "/api/v1/connections": Case("caregiver"),
    "/api/v1/connections/<int:connection_id>/history": Case("admin"),
    "/api/v1/families": Case("staff"),
    "/api/v1/families/<int:group_id>": Case("admin"),
    "/api/v1/families/<int:group_id>/audit": Case("admin"),
    "/api/v1/families/<int:group_id>/connections": Case("admin"),
    "/api/v1/families/<int:group_id>/invites": Case("admin"),
    "/api/v1/invites/pending": Case("invitee"),
    "/api/v1/me": Case("admin"),
    "/api/v1/me/data": Case("admin"),
    "/api/v1/notifications": Case("admin"),
    "/api/v1/openapi.json": Case("admin"),
    "/api/v1/patients/<int:patient_id>/reports": Case("caregiver"),
    "/api/v1/patients/<int:patient_id>/reports/<int:report_id>": Case("caregiver"),
    "/api/v1/staff/queue": Case("staff"),
    "/api/v1/staff/users": Case("staff", query="q=Khách"),
    "/api/v1/staff/users/<int:user_id>": Case("staff", query="reason=support"),
    "/api/v1/subscription": Case("admin"),
    "/api/v1/users/<int:user_id>": Case("admin"),
    "/api/v1/users/<int:user_id>/families": Case("caregiver"),
    "/claim/<token>": Case("anon"),
    "/email/<token>": Case("anon"),
    "/connections/<int:connection_id>/disconnect": Case("admin"),
    "/connections/<int:connection_id>/history": Case("admin"),
    "/connections/<int:connection_id>/permissions/<code>": Case("admin", htmx=True),
    "/connections/<int:connection_id>/relationship": Case("caregiver"),
    # The world's connection is live: nothing to restore, htmx is sent back to the page.
    "/connections/<int:connection_id>/restore": Case("admin", htmx=True),
    "/family": Case("caregiver"),
    "/family/<int:group_id>": Case("admin"),
    "/family/<int:group_id>/caregivers/<int:user_id>/disconnect": Case("admin"),
    "/family/<int:group_id>/dissolve": Case("admin"),
    "/family/<int:group_id>/hand-over": Case("admin"),
    "/family/<int:group_id>/invites": Case("admin"),
    "/family/<int:group_id>/leave": Case("caregiver", query="role=caregiver"),
    "/family/<int:group_id>/members/<int:user_id>/remove": Case("admin", query="role=caregiver"),
    "/family/<int:group_id>/slots/<any(patient, caregiver):role>": Case("admin", htmx=True),
    "/followers": Case("patient"),
    "/followers/withdraw-consent": Case("patient"),
    "/following": Case("caregiver"),
    "/following/<int:patient_id>": Case("caregiver"),
    "/following/<int:patient_id>/reports": Case("caregiver"),
    "/following/<int:patient_id>/reports/<int:report_id>": Case("caregiver"),
    "/healthz": Case("anon"),
    "/readyz": Case("anon"),
    "/metrics": Case("anon", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}),
    "/i/<token>": Case("anon"),
    "/i/login": Case("link"),
    "/i/resume": Case("link"),
    "/i/signup": Case("signup"),
    "/invites": Case("invitee"),
    "/notifications": Case("admin"),
    "/plan": Case("admin"),
    "/staff/": Case("staff"),
    "/staff/codes": Case("staff"),
    "/staff/factor": Case("staff_pending"),
    "/staff/factor/enrol": Case("newstaff"),
    "/staff/factor/recovery-codes": Case("staff"),
    "/staff/groups": Case("staff"),
    "/staff/groups/<int:group_id>": Case("staff"),
    "/staff/groups/<int:group_id>/audit.csv": Case("staff"),
    "/staff/queue": Case("staff"),
    "/staff/queue/<signal>/<key>": Case("staff"),
    "/staff/users/<int:user_id>": Case("staff"),
    "/static/<path:filename>": Case("anon"),
}
# The invite, claim and email link pages hide their URL from everyone (SPEC §4).
NO_REFERRER = {"/i/<token>", "/i/login", "/i/resume", "/i/signup", "/claim/<token>",
               "/email/<token>"}
ONE_YEAR = 365 * 24 * 3600


def get_rules(app) -> dict:
    return {rule.rule: rule for rule in app.url_map.iter_rules() if "GET" in rule.methods}


def csp_of(response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy", "")
    directives = (part.strip().split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in directives}


class _Markup(HTMLParser):
    """What a strict CSP blocks in a page: inline scripts, handlers, inline styles."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self.htmx_config: str | None = None
        self.loads_htmx = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.problems.append("an inline <script>")
        if tag == "script" and "htmx" in (names.get("src") or ""):
            self.loads_htmx = True
        if tag == "style":
            self.problems.append("a <style> element")
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on"):
                self.problems.append(f"a handler {name}= on <{tag}>")
            if name == "style":
                self.problems.append(f"a style= attribute on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"a javascript: URL in {name}= on <{tag}>")
            if name in ("hx-vals", "hx-vars") and value and value.strip().startswith("js:"):
                self.problems.append(f"{name} evaluated as JavaScript on <{tag}>")
        if tag == "meta" and names.get("name") == "htmx-config":
            self.htmx_config = names.get("content")


def header_problems(rule: str, response) -> list[str]:
    problems = []
    csp = csp_of(response)
    scripts = csp.get("script-src", csp.get("default-src"))
    if not scripts:
        problems.append("no script-src (nor default-src) in the CSP")
    elif set(scripts) - {"'self'"}:
        problems.append(f"script-src allows more than the site's files: {scripts}")
    if csp.get("frame-ancestors") != ["'none'"]:
        problems.append(f"frame-ancestors is {csp.get('frame-ancestors')}")
    if csp.get("object-src") != ["'none'"] or csp.get("base-uri") != ["'none'"]:
        problems.append("object-src or base-uri is not 'none'")
    if any(set(words) & {"'unsafe-inline'", "'unsafe-eval'"} for words in csp.values()):
        problems.append("a CSP directive allows unsafe-inline or unsafe-eval")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    if response.headers.get("X-Frame-Options") != "DENY":
        problems.append("no X-Frame-Options: DENY")
    expected = {"no-referrer"} if rule in NO_REFERRER else {"same-origin", "no-referrer"}
    if response.headers.get("Referrer-Policy") not in expected:
        problems.append(f"Referrer-Policy is {response.headers.get('Referrer-Policy')}")
    hsts = re.fullmatch(r"max-age=(\d+); includeSubDomains",
                        response.headers.get("Strict-Transport-Security", ""))
    if not hsts or int(hsts.group(1)) < ONE_YEAR:
        problems.append(f"HSTS is {response.headers.get('Strict-Transport-Security')!r}")
    return problems


def markup_problems(response) -> list[str]:
    if response.mimetype != "text/html":
        return []
    parser = _Markup()
    body = response.get_data(as_text=True)
    parser.feed(body)
    problems = list(parser.problems)
    if parser.loads_htmx:
        if parser.htmx_config is None:
            problems.append("a page loads htmx without the htmx-config meta")
        elif not _htmx_fits_the_csp(json.loads(parser.htmx_config)):
            problems.append(f"htmx is not configured for the CSP: {parser.htmx_config}")
    return problems


def _htmx_fits_the_csp(config: dict) -> bool:
    return (config.get("allowEval") is False and config.get("allowScriptTags") is False
            and config.get("includeIndicatorStyles") is False
            and config.get("selfRequestsOnly") is True)


def test_the_walk_knows_every_get_rule(app):
    found = set(get_rules(app))
    assert found - set(PAGES) == set(), "GET rules the header walk does not know"
    assert set(PAGES) - found == set(), "rules listed in the walk that the app no longer has"
    assert set(PAGES) >= NO_REFERRER


def test_every_get_answer_carries_the_security_headers(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", METRICS_TOKEN)
    rules = get_rules(app)
    clients = {who: as_who(app, world, who) for who in PEOPLE}
    failures = {}
    for path, case in sorted(PAGES.items()):
        client = clients.get(case.who) or as_who(app, world, case.who)
        url = fill(rules[path], world, **case.given) + ("?" + case.query if case.query else "")
        headers = {"HX-Request": "true"} if case.htmx else {}
        headers.update(case.headers)
        if path.startswith("/api/v1/") and case.who in PEOPLE:
            headers["Authorization"] = f"Bearer {world.api_tokens[case.who]}"
        response = client.get(url, base_url=HTTPS, headers=headers)
        problems = [] if response.status_code == 200 else [f"status {response.status_code}"]
        problems += header_problems(path, response) + markup_problems(response)
        response.close()
        if problems:
            failures[url] = problems
    assert failures == {}


def test_error_answers_carry_the_headers_too(app):
    client = app.test_client()
    for response in (client.get("/no-such-page", base_url=HTTPS),
                     client.get("/api/v1/me", base_url=HTTPS),
                     client.post("/language", base_url=HTTPS)):
        assert response.status_code in (400, 401, 404)
        assert header_problems("/", response) == []


def test_hsts_only_on_https_and_never_in_development(app, fresh_database_url):
    assert "Strict-Transport-Security" not in app.test_client().get("/").headers
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    for env, sent in (("test", True), ("production", True), ("development", False)):
        other = make_app(url, APP_ENV=env)
        response = other.test_client().get("/account/login", base_url=HTTPS)
        assert response.status_code == 200
        assert ("Strict-Transport-Security" in response.headers) is sent, env
    # Production redirects plain HTTP to HTTPS, where the header then comes.
    production = make_app(url, APP_ENV="production").test_client().get("/account/login")
    assert production.status_code == 302
    assert production.headers["Location"].startswith("https://")


def test_no_template_has_markup_the_csp_would_block():
    """Templates (fragments included, some of which no walk renders) and static HTML."""
    offenders = {}
    for path in [*(ROOT / "templates").rglob("*.html"), *(ROOT / "static").rglob("*.html")]:
        parser = _Markup()
        # Jinja's tags become a plain word: src="{{ url_for(…) }}" is still a src.
        parser.feed(re.sub(r"\{[{%#].*?[}%#]\}", "jinja", path.read_text(), flags=re.S))
        if parser.problems:
            offenders[str(path.relative_to(ROOT))] = parser.problems
    assert offenders == {}

