"""Deleting my account in Chromium (issue 19, item 4), on a 390 px phone and a 1280 px
desk, in Vietnamese and English: read the consequences (nothing wider than the screen),
confirm with the password, land on the done page, and the login refuses the number after.
Screenshots go to test-output/screenshots/<backend>/<test>/."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from app.extensions import db
from tests.browser.story import DESK, PHONE, assert_fits, log_in
from tests.factories import PASSWORD, make_user, national

WORDS = {
    "en": {"kept": "What is kept, and why", "done": "Your account is deleted",
           "settings": "Delete my account", "wrong": "not right"},
    "vi": {"kept": "Những gì được giữ lại, và vì sao", "done": "Tài khoản của bạn đã bị xóa",
           "settings": "Xóa tài khoản của tôi", "wrong": "không đúng"},
}


def someone(live, lang: str) -> tuple[int, str]:
    with live.app.app_context():
        user = make_user(name="Lê Văn Rời Đi", locale=lang)
        db.session.commit()
        found = user.id, user.phone
        db.session.remove()
    return found


@pytest.mark.parametrize("size", [PHONE, DESK], ids=["phone", "desk"])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_delete_my_account_from_settings(live, new_page, screenshots, lang, size):
    user_id, phone = someone(live, lang)
    words = WORDS[lang]
    # The wrong password answers 422 on purpose.
    page: Page = new_page("en-US" if lang == "en" else "vi-VN", refusals_ok=True)
    page.set_viewport_size(size)
    log_in(page, live, phone, lang)
    page.goto(live.url("/account/settings"))
    page.locator("#settings-delete-link").click()
    page.wait_for_url(lambda url: url.endswith("/me/delete"))
    consequences = page.locator("#delete-consequences")
    expect(consequences).to_contain_text(words["kept"])
    expect(consequences).to_contain_text(f"#{user_id}")
    assert_fits(page)
    page.screenshot(path=str(screenshots / "consequences.png"), full_page=True)
    # A wrong password first: the form comes back with the message, nothing deleted.
    page.locator("#delete-form input[name=password]").fill("not my password")
    page.locator("#delete-submit").click()
    expect(page.locator("#delete-form")).to_contain_text(words["wrong"])
    assert_fits(page)
    page.locator("#delete-form input[name=password]").fill(PASSWORD)
    page.locator("#delete-submit").click()
    page.wait_for_url(lambda url: url.endswith("/me/deleted"))
    expect(page.locator("#deleted-title")).to_have_text(words["done"])
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert_fits(page)
    page.screenshot(path=str(screenshots / "done.png"), full_page=True)
    # The number does not log in any more.
    page.goto(live.url("/account/login"))
    page.locator("#login").fill(national(phone))
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    expect(page).to_have_url(live.url("/account/login"))


def codes_queued(live, user_id: int) -> int:
    """The SMS codes written to the outbox for the user."""
    from sqlalchemy import func, select

    from app.models.notifications import InviteNotification as N

    with live.app.app_context():
        count = db.session.scalar(select(func.count()).select_from(N).where(
            N.recipient_user_id == user_id, N.notification_type == "PHONE_CODE"))
        db.session.remove()
    return count


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_no_password_at_hand_an_sms_code_confirms_the_deletion(live, browser, new_page,
                                                               javascript):
    """"Send me a code" is a second submit button of the same form: with or without
    JavaScript it texts a code and comes back to the page; the code then confirms. Enter
    in the code field deletes (the action is the form's first button), it sends no code."""
    user_id, phone = someone(live, "en")
    if javascript:
        page = new_page("en-US")
    else:
        context = browser.new_context(java_script_enabled=False, locale="en-US")
        page = context.new_page()
    page.set_viewport_size(PHONE)
    log_in(page, live, phone, "en")
    page.goto(live.url("/me/delete"))
    page.locator("#send-code").click()
    page.wait_for_url(lambda url: url.endswith("/me/delete"))
    expect(page.locator("#flashes")).to_contain_text("A code is on its way")
    code = live.sms_code(phone)
    texts = codes_queued(live, user_id)
    page.locator("#delete-form input[name=code]").fill(code)
    page.locator("#delete-form input[name=code]").press("Enter")
    page.wait_for_url(lambda url: url.endswith("/me/deleted"))
    assert codes_queued(live, user_id) == texts == 1  # Enter sent no second code
    with live.app.app_context():
        from app.models.accounts import User

        assert db.session.get(User, user_id).is_deleted
        db.session.remove()
    if not javascript:
        context.close()
