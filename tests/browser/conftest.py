"""Browser tests: Debian's Chromium, driven by Playwright, against a live server.

The app is served on 127.0.0.1 by a real HTTP server (werkzeug's, threaded) on its own
freshly migrated database of the backend under test; its SMS channel is a real gateway
on 127.0.0.1 (tests/notifications/servers.py), so an invite link or a one-time code
reaches the test the way it reaches a phone (live.invite_link, live.sms_code). Chromium is
/usr/bin/chromium (scripts/test installs it with apt when it is missing); `playwright
install` is never run. Screenshots go to test-output/screenshots/<backend>/ (TEST_OUTPUT
moves test-output/).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from app.extensions import db
from app.outbox.delivery import deliver_due
from tests.conftest import BACKEND, migrated_app
from tests.notifications.servers import SmsGateway
from tests.sms import CODE_RE

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
LINK_RE = re.compile(r"https?://\S+/i/[A-Za-z0-9_\-]+")
# Chromium's console line for a document answered with a 4xx (see new_page's refusals_ok).
REFUSAL_RE = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d\b")


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@dataclass
class LiveServer:
    """The served app, its base URL and the SMS gateway its invites go through."""

    app: Flask
    base_url: str
    gateway: SmsGateway
    _seen: int = field(default=0)

    def url(self, path: str) -> str:
        return self.base_url + path

    def deliver(self) -> None:
        """Run the outbox worker once (what `flask notifications deliver` does)."""
        with self.app.app_context():
            deliver_due()
            db.session.remove()

    def invite_link(self, phone_e164: str) -> str:
        """Deliver the outbox and return the newest invite link texted to phone_e164."""
        self.deliver()
        for request in reversed(self.gateway.requests):
            if request.body.get("to") == phone_e164:
                match = LINK_RE.search(request.body.get("text") or "")
                if match:
                    return match.group(0)
        raise AssertionError(f"no invite link was texted to {phone_e164}: "
                             f"{[r.body for r in self.gateway.requests]}")

    def texts(self, phone_e164: str) -> list[str]:
        """Deliver the outbox, then every SMS text the gateway received for phone_e164,
        oldest first."""
        self.deliver()
        return [r.body.get("text") or "" for r in self.gateway.requests
                if r.body.get("to") == phone_e164]

    def codes(self, phone_e164: str) -> list[str]:
        """Every 6-digit code texted to phone_e164, oldest first (after delivering). The
        links are left out first: an invite link's token may hold six digits in a row."""
        return [match.group(1) for text in self.texts(phone_e164)
                for match in [CODE_RE.search(LINK_RE.sub("", text))] if match]

    def sms_code(self, phone_e164: str) -> str:
        """Deliver the outbox and return the newest 6-digit code texted to phone_e164, as
        the person reads it on their phone."""
        codes = self.codes(phone_e164)
        if not codes:
            raise AssertionError(f"no code was texted to {phone_e164}: "
                                 f"{self.texts(phone_e164)}")
        return codes[-1]


@pytest.fixture(scope="module")
def live(fresh_database_url):
    """A live server on a fresh database; module-scoped, so a test module's stories use
    phone numbers of their own."""
    gateway = SmsGateway().start()
    holder: dict[str, Flask] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["app"](env, start),
                         threaded=True, request_handler=QuietHandler)
    base_url = f"http://127.0.0.1:{server.server_port}"
    app = migrated_app(fresh_database_url(), keep=True, PUBLIC_BASE_URL=base_url,
                       SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN="gw-secret",
                       LOGIN_RATE_LIMIT="1000 per minute")
    holder["app"] = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(app=app, base_url=base_url, gateway=gateway)
    server.shutdown()
    thread.join()
    gateway.stop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def world(live):
    """The accessibility and keyboard tests' family (tests/browser/world.py), seeded once
    per module on the live server's database."""
    from tests.browser.world import seed_world

    with live.app.app_context():
        seeded = seed_world()
        db.session.remove()
    return seeded


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def screenshots(request) -> Path:
    """test-output/screenshots/<backend>/<test name>/, emptied for this run of the test."""
    base = Path(os.environ.get("TEST_OUTPUT") or ROOT / "test-output")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder = base / "screenshots" / BACKEND / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.fixture
def new_page(browser):
    """new_page(locale) → a page in a browser context of its own (its own cookies), which
    fails the test on any JavaScript error or CSP violation it reports."""
    contexts = []
    problems: list[str] = []

    def make(locale: str = "vi-VN", *, refusals_ok: bool = False) -> Page:
        """refusals_ok=True: a page the test opens on purpose may answer 4xx (Chromium
        reports that as a console error about the page's own URL); any other error, a
        subresource's 4xx included, still fails the test."""
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

        def on_console(msg) -> None:
            if msg.type != "error":
                return
            if (refusals_ok and REFUSAL_RE.match(msg.text)
                    and msg.location.get("url") == page.url):
                return
            problems.append(f"console {msg.type}: {msg.text}")

        page.on("console", on_console)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems, problems
