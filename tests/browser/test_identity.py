"""Identity by a proved phone in Chromium (issue 15, ID-001/002), in English and in
Vietnamese, every step seen at 390 px (a phone: nothing may be wider than the screen) and
at 1280 px (a desk):

- the forgotten password, from the login page's link: a code to the number, read from the
  real SMS gateway, and a new password; the person lands logged in, the session another
  device had with the old password is over, and the old password no longer opens the
  account while the new one does;
- an account whose number was never proved (users.phone_verified_at NULL): "My invites"
  refuses it (403 phone_unverified) with a "Prove my phone number" button; a code from the
  gateway proves the number, and the invite waiting for it shows.

The people are written straight into the live server's database (tests/factories.py), as
the app holds them; everything they do happens in the browser. Screenshots go to
test-output/screenshots/<backend>/<test>/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from app.extensions import db
from app.invites.services import invite_create
from app.models.accounts import User
from app.phone import display_phone
from tests.browser.story import PHONE, Shots, log_in, sized_for_six_digits, use_language
from tests.factories import PASSWORD, make_group, make_user, national

LANGUAGES = ["vi", "en"]
LOCALES = {"vi": "vi-VN", "en": "en-US"}
NEW_PASSWORD = "mua-phun-thang-hai-2027"

# The msgids of the templates and their translations in app/translations/vi.
TEXTS = {
    "en": {
        "forgot": "Forgot your password?", "reset_heading": "Forgotten password",
        "phone": "Phone number", "send_code": "Send me a code",
        "confirm_heading": "Choose a new password", "sms_code": "Code from the SMS",
        "new_password": "New password", "save_password": "Save the new password",
        "reset_sms": "Family Connect: your code to reset your password is {code}.",
        "changed": "Your password is changed. Every other session and API token of your "
                   "account has ended.",
        "hello": "Hello, {name}", "login": "Phone number or email", "password": "Password",
        "log_in": "Log in", "login_refused": "The phone number, email or password is not right.",
        "my_invites": "My invites", "refused": "Your phone number is not proved yet",
        "prove_first": "Prove your phone number first: invites go to phone numbers, so we "
                       "send a 6-digit code to yours by SMS before you can see or answer them.",
        "prove_phone": "Prove my phone number", "phone_heading": "Phone number",
        "not_proved": "{phone} is not proved yet.", "send_sms": "Send me a code by SMS",
        "on_its_way": "A code is on its way to {phone} by SMS.",
        "prove_sms": "Family Connect: your code to prove this phone number is {code}.",
        "prove_number": "Prove my number",
        "proved": "Your phone number is proved. Invites to it are yours to answer.",
        "invite": "{sender} invites you to join {family} as a caregiver.",
    },
    "vi": {
        "forgot": "Quên mật khẩu?", "reset_heading": "Quên mật khẩu",
        "phone": "Số điện thoại", "send_code": "Gửi mã cho tôi",
        "confirm_heading": "Chọn mật khẩu mới", "sms_code": "Mã trong SMS",
        "new_password": "Mật khẩu mới", "save_password": "Lưu mật khẩu mới",
        "reset_sms": "Family Connect: mã đặt lại mật khẩu của bạn là {code}.",
        "changed": "Mật khẩu của bạn đã được đổi. Mọi phiên đăng nhập khác và mọi mã API "
                   "của tài khoản đã kết thúc.",
        "hello": "Xin chào, {name}", "login": "Số điện thoại hoặc email",
        "password": "Mật khẩu", "log_in": "Đăng nhập",
        "login_refused": "Số điện thoại, email hoặc mật khẩu không đúng.",
        "my_invites": "Lời mời của tôi", "refused": "Số điện thoại của bạn chưa được xác minh",
        "prove_first": "Hãy xác minh số điện thoại trước: lời mời được gửi tới số điện thoại, "
                       "nên chúng tôi gửi một mã 6 chữ số tới số của bạn qua SMS trước khi "
                       "bạn có thể xem hay trả lời lời mời.",
        "prove_phone": "Xác minh số điện thoại của tôi", "phone_heading": "Số điện thoại",
        "not_proved": "Số {phone} chưa được xác minh.", "send_sms": "Gửi mã cho tôi qua SMS",
        "on_its_way": "Mã đang được gửi tới {phone} qua SMS.",
        "prove_sms": "Family Connect: mã xác minh số điện thoại này là {code}.",
        "prove_number": "Xác minh số của tôi",
        "proved": "Số điện thoại của bạn đã được xác minh. Bạn có thể trả lời các lời mời "
                  "tới số này.",
        "invite": "{sender} mời bạn tham gia {family} với vai trò người thân.",
    },
}
NAMES = {
    "en": {"forgetful": "Hoa Nguyen", "unproved": "Tam Le", "admin": "Mai Tran",
           "family": "The Tran family"},
    "vi": {"forgetful": "Nguyễn Thị Hoa", "unproved": "Lê Văn Tâm", "admin": "Trần Thị Mai",
           "family": "Gia đình Trần"},
}

def h1(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def phone_state(live, phone: str) -> tuple[str, bool]:
    """(password hash, proved) of the account of the number."""
    with live.app.app_context():
        user = db.session.scalars(select(User).where(User.phone == phone)).one()
        db.session.remove()
    return user.password_hash, user.phone_verified_at is not None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_forgotten_password(lang, live, browser, new_page, screenshots):
    t, names, shots = TEXTS[lang], NAMES[lang], Shots(screenshots)
    with live.app.app_context():
        user = make_user(name=names["forgetful"], locale=lang)
        db.session.commit()
        phone = user.phone
        db.session.remove()
    old_hash, _proved = phone_state(live, phone)
    # Another device of hers, logged in with the old password.
    other = new_page(LOCALES[lang])
    log_in(other, live, phone, lang)
    expect(h1(other)).to_have_text(t["hello"].format(name=names["forgetful"]))

    page = new_page(LOCALES[lang])
    page.set_viewport_size(PHONE)
    page.goto(live.url("/account/login"))
    use_language(page, lang)
    page.get_by_role("link", name=t["forgot"], exact=True).click()
    page.wait_for_url(re.compile(r"/account/password-reset$"))
    expect(h1(page)).to_have_text(t["reset_heading"])
    page.get_by_label(t["phone"], exact=True).fill(national(phone))
    shots.phone_and_desk(page, "asks-for-a-code")
    page.get_by_role("button", name=t["send_code"], exact=True).click()

    page.wait_for_url(re.compile(r"/account/password-reset/confirm$"))
    expect(h1(page)).to_have_text(t["confirm_heading"])
    expect(page.get_by_label(t["phone"], exact=True)).to_have_value(display_phone(phone))
    code = live.sms_code(phone)
    [sms] = live.texts(phone)  # the code, in her language
    assert sms.startswith(t["reset_sms"].format(code=code)), sms
    field = page.get_by_label(t["sms_code"], exact=True)
    field.fill(code)
    sized_for_six_digits(field)
    page.get_by_label(t["new_password"], exact=True).fill(NEW_PASSWORD)
    shots.phone_and_desk(page, "types-code-and-new-password")
    assert phone_state(live, phone)[0] == old_hash  # nothing changes before the code is used
    page.get_by_role("button", name=t["save_password"], exact=True).click()

    page.wait_for_url(live.url("/"))
    expect(page.locator(".flashes")).to_contain_text(t["changed"])
    expect(h1(page)).to_have_text(t["hello"].format(name=names["forgetful"]))
    shots.phone_and_desk(page, "logged-in-with-the-new-password")
    assert phone_state(live, phone)[0] != old_hash

    # The other device's session ended with the old password.
    other.goto(live.url("/account/settings"))
    expect(other).to_have_url(re.compile(r"/account/login\b"))

    # The old password no longer opens the account; the new one does. Without JavaScript
    # here (the plain form's statuses); test_a_refused_login_says_so_with_javascript shows
    # the refusal with it.
    context = browser.new_context(java_script_enabled=False, locale=LOCALES[lang],
                                  viewport=PHONE)
    try:
        plain = context.new_page()
        plain.goto(live.url("/account/login"))
        use_language(plain, lang)
        for password, status in ((PASSWORD, 401), (NEW_PASSWORD, 303)):
            plain.get_by_label(t["login"], exact=True).fill(national(phone))
            plain.get_by_label(t["password"], exact=True).fill(password)
            with plain.expect_response(lambda r: r.request.method == "POST") as answer:
                plain.get_by_role("button", name=t["log_in"], exact=True).click()
            assert answer.value.status == status, password
            if status == 401:
                expect(plain.locator("#login-form .form-error")).to_have_text(t["login_refused"])
                shots.phone_and_desk(plain, "the-old-password-is-refused")
        expect(h1(plain)).to_have_text(t["hello"].format(name=names["forgetful"]))
    finally:
        context.close()


def test_a_refused_login_says_so_with_javascript(live, browser):
    """What the person sees when the password is wrong, JavaScript on. A plain context, not
    new_page: the failure is this test's to report, not its teardown's."""
    with live.app.app_context():
        phone = make_user(name="Phạm Văn Quên").phone
        db.session.commit()
        db.session.remove()
    t = TEXTS["vi"]
    context = browser.new_context(locale="vi-VN", viewport=PHONE)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(live.url("/account/login"))
        page.get_by_label(t["login"], exact=True).fill(national(phone))
        page.get_by_label(t["password"], exact=True).fill("sai-mat-khau-2026")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.get_by_role("button", name=t["log_in"], exact=True).click()
        assert answer.value.status == 401  # to htmx as to a plain post: the form, in place
        expect(page.locator("#login-form .form-error")).to_have_text(t["login_refused"],
                                                                     timeout=3000)
        assert not [e for e in errors if "htmx" in e or "Response Status Error" in e], errors
    finally:
        context.close()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_unproved_number_is_proved_to_see_its_invite(lang, live, new_page, screenshots):
    t, names, shots = TEXTS[lang], NAMES[lang], Shots(screenshots)
    with live.app.app_context():
        admin = make_user(name=names["admin"])
        group = make_group(admin, name=names["family"])
        user = make_user(name=names["unproved"], locale=lang, phone_verified_at=None)
        invite_create(actor=admin, group=group, phone=user.phone, role="caregiver")
        db.session.commit()
        phone = user.phone
        db.session.remove()
    shown = display_phone(phone)
    live.deliver()  # the invite's SMS went out: a link, no code
    assert live.texts(phone)
    assert live.codes(phone) == []

    page = new_page(LOCALES[lang], refusals_ok=True)  # the 403 of "My invites" is on purpose
    page.set_viewport_size(PHONE)
    log_in(page, live, phone, lang)
    with page.expect_response(lambda r: r.url == live.url("/invites")) as answer:
        page.get_by_role("navigation").get_by_role(
            "link", name=t["my_invites"], exact=True).click()
    assert answer.value.status == 403
    expect(h1(page)).to_have_text(t["refused"])
    expect(page.locator("main .lead")).to_contain_text(t["prove_first"])
    expect(page.locator("#my-invites")).to_have_count(0)
    prove = page.get_by_role("link", name=t["prove_phone"], exact=True)
    expect(prove).to_be_visible()
    shots.phone_and_desk(page, "my-invites-refused")
    prove.click()

    page.wait_for_url(re.compile(r"/account/phone\?next=(/|%2F)invites$"))
    expect(h1(page)).to_have_text(t["phone_heading"])
    expect(page.locator("#phone-status")).to_contain_text(t["not_proved"].format(phone=shown))
    shots.phone_and_desk(page, "phone-not-proved")
    page.get_by_role("button", name=t["send_sms"], exact=True).click()
    expect(page.locator(".flashes")).to_contain_text(t["on_its_way"].format(phone=shown))
    code = live.sms_code(phone)
    assert live.texts(phone)[-1].startswith(t["prove_sms"].format(code=code))
    field = page.get_by_label(t["sms_code"], exact=True)
    field.fill(code)
    sized_for_six_digits(field)
    shots.phone_and_desk(page, "types-the-code")
    assert phone_state(live, phone)[1] is False
    page.get_by_role("button", name=t["prove_number"], exact=True).click()

    page.wait_for_url(live.url("/invites"))
    expect(page.locator(".flashes")).to_contain_text(t["proved"])
    expect(h1(page)).to_have_text(t["my_invites"])
    expect(page.locator("#my-invites > li")).to_have_count(1)
    expect(page.locator("#my-invites > li")).to_contain_text(
        t["invite"].format(sender=names["admin"], family=names["family"]))
    shots.phone_and_desk(page, "sees-the-invite")
    assert phone_state(live, phone)[1] is True
