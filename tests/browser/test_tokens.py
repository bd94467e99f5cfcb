"""The settings page's API tokens in Chromium (issue 15): the list reads on a 390 px wide
phone (nothing wider than the screen, axe clean), "Revoke" swaps the row in place without
reloading the page, and without JavaScript it is a plain form post back to the list.
Screenshots go to test-output/screenshots/<backend>/<test>/."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from app.accounts.services import api_token_create
from app.extensions import db
from tests.browser.story import PHONE, assert_fits, log_in
from tests.browser.test_accessibility import Audit
from tests.factories import PASSWORD, make_user, national

LONG_NAME = "đồng-bộ-lịch-uống-thuốc-của-bố-mỗi-đêm-lúc-hai-giờ-sáng-qua-máy-chủ-nhà"


@pytest.fixture(scope="module")
def holder(live):
    """A user with three live tokens (one with a long unbroken name) and their clear
    tokens, by name."""
    with live.app.app_context():
        user = make_user(name="Trần Văn Token")
        tokens = {name: api_token_create(user=user, name=name)
                  for name in ("Máy tính bảng", "Script sao lưu", LONG_NAME)}
        db.session.commit()
        phone = user.phone
        db.session.remove()
    return phone, tokens


def bearer_status(live, token: str) -> int:
    request = urllib.request.Request(live.url("/api/v1/me"),
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request) as answer:  # noqa: S310 - our own live server
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code


def row(page: Page, name: str):
    return page.locator("li.token", has=page.locator(".name", has_text=name))


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_list_reads_on_a_phone(live, holder, new_page, screenshots, request, lang):
    phone, _tokens = holder
    page = new_page("en-US" if lang == "en" else "vi-VN")
    page.set_viewport_size(PHONE)
    log_in(page, live, phone, lang)
    audit = Audit(page, lang, live.base_url)
    audit.visit("/account/settings")
    section = page.locator("#api-tokens")
    section.scroll_into_view_if_needed()
    expect(page.locator("#api-token-list li.token")).to_have_count(3)
    expect(row(page, "Máy tính bảng").locator("button")).to_be_visible()
    assert_fits(page, "main *")
    section.screenshot(path=screenshots / "01-tokens-390px.png")
    audit.done(request.node.name)


def test_revoke_swaps_the_row_in_place(live, holder, new_page, screenshots):
    phone, tokens = holder
    page = new_page()
    page.set_viewport_size(PHONE)
    log_in(page, live, phone, "vi")
    page.goto(live.url("/account/settings"))
    page.evaluate("() => { window.notReloaded = true; }")
    target = row(page, "Script sao lưu")
    assert bearer_status(live, tokens["Script sao lưu"]) == 200
    target.get_by_role("button").click()
    expect(target.locator(".tag-revoked")).to_have_text("Đã thu hồi")
    expect(target.get_by_role("button")).to_have_count(0)
    assert page.evaluate("() => window.notReloaded") is True  # htmx swapped the row
    assert page.url.endswith("/account/settings")
    target.screenshot(path=screenshots / "01-row-revoked.png")
    assert bearer_status(live, tokens["Script sao lưu"]) == 401
    assert bearer_status(live, tokens["Máy tính bảng"]) == 200


def test_revoke_without_javascript(live, holder, browser, screenshots):
    phone, tokens = holder
    context = browser.new_context(java_script_enabled=False, locale="vi-VN",
                                  viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(live.url("/account/login"))
        page.locator("#login").fill(national(phone))
        page.locator("#password").fill(PASSWORD)
        page.locator("#login-form button[type=submit]").click()
        page.goto(live.url("/account/settings"))
        row(page, "Máy tính bảng").get_by_role("button").click()
        page.wait_for_url("**/account/settings#api-tokens")
        expect(page.locator(".flash-success")).to_contain_text("Máy tính bảng")
        expect(row(page, "Máy tính bảng").locator(".tag-revoked")).to_be_visible()
        page.screenshot(path=screenshots / "01-after-plain-post.png", full_page=True)
    finally:
        context.close()
    assert bearer_status(live, tokens["Máy tính bảng"]) == 401
