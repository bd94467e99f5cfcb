"""What the story test needs beside its steps: the people, the page text per language, and
the few browser moves that every person makes (choose a language, sign up, screenshot).

The texts are the msgids of the templates and their Vietnamese translations from
app/translations/vi: a test run in English must see the first, one in Vietnamese the second.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from playwright.sync_api import Locator, Page, expect

from app.phone import display_phone
from tests.factories import PASSWORD as FACTORY_PASSWORD
from tests.factories import TOTP_SECRET, national, next_phone

PASSWORD = "cau-chuyen-2026"
PHONE = {"width": 390, "height": 844}  # a common phone, in CSS pixels
DESK = {"width": 1280, "height": 900}  # the new_page fixture's viewport
# Everything on the page that sticks out of the viewport to the right (or left): on a
# phone that is a page the person has to scroll sideways.
TOO_WIDE = """(selector) => {
  const width = document.documentElement.clientWidth;
  const out = [...document.querySelectorAll(selector)].filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && (box.right > width + 0.5 || box.left < -0.5);
  }).map(e => e.outerHTML.slice(0, 80));
  return {scroll: document.documentElement.scrollWidth, width, out};
}"""
# WCAG 2.2's minimum target size (2.5.8): what a finger presses in main is at least 24 × 24
# CSS px. A radio or a checkbox is pressed through its label, which the check leaves out.
_SMALL_TARGETS = """() => [...document.querySelectorAll(
    "main button, main a.button, main select, main textarea,"
    + " main input:not([type=hidden]):not([type=radio]):not([type=checkbox])")]
  .filter(e => e.checkVisibility())
  .map(e => ({html: e.outerHTML.slice(0, 80), box: e.getBoundingClientRect()}))
  .filter(t => t.box.width < 24 || t.box.height < 24)
  .map(t => `${t.html} ${t.box.width}x${t.box.height}`)"""
# Whether a code field fits six digits, and no more than a few beyond: its inner width
# against "000000" drawn in its own font, letter spacing included.
_CODE_BOX = """e => {
  const style = getComputedStyle(e);
  const pen = document.createElement("canvas").getContext("2d");
  pen.font = style.font;
  const spacing = parseFloat(style.letterSpacing) || 0;
  return {digits: pen.measureText("000000").width + 6 * spacing,
          inner: e.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
          em: parseFloat(style.fontSize)};
}"""


TEXTS = {
    "en": {
        "switch_to": "English", "html_lang": "en",
        "register_heading": "Create your account", "phone": "Phone number",
        "name": "Full name", "male": "Male", "female": "Female", "password": "Password",
        "sign_up": "Sign up", "hello": "Hello, {name}",
        "verify_heading": "Enter the code from the SMS", "sms_code": "Code from the SMS",
        "create_account": "Create my account",
        "welcome": "Welcome, {name}. Your account is ready.",
        "signup_sms": "Family Connect: your sign-up code is {code}.",
        "plan_heading": "My plan", "code": "Activation code", "redeem": "Redeem",
        "code_accepted": "Code accepted: your Family plan runs until",
        "create_heading": "Create your family", "family_name": "Family name",
        "created": "Your family “{name}” is ready.",
        "invite_caregiver": "Invite a caregiver", "invite_patient": "Invite a patient",
        "their_phone": "Their phone number", "patient": "Patient", "caregiver": "Caregiver",
        "send_invite": "Send the invite", "invited": "{phone} is invited as {role}.",
        "role_patient": "patient", "role_caregiver": "caregiver",
        "invite_someone_else": "Invite someone else", "back_to_family": "Back to the family",
        "invites_you": "{sender} invites you to join {family}",
        "invited_as": "You are invited as a {role}.",
        "signup_heading": "Create your account to answer your invite",
        "accept": "Accept and join", "joined": "Welcome to {family}. You joined as {role}.",
        "following": "Patients I follow", "nothing": "Nothing to show right now.",
        "permissions": "Permissions", "turn_off": "Turn off", "on": "On", "off": "Off",
        "turn_off_question": "Turn off “{permission}” for {caregiver}?",
        "encouragement": "Call to encourage", "health": "View health overview",
        "disconnect_all": "Disconnect from all patients",
        "reason": "Reason (optional, private)",
        "disconnected_flash": "{caregiver} is disconnected from every patient of this "
                              "family. They were not told.",
        "disconnected": "Disconnected", "refused": "You cannot see this patient's reports.",
    },
    "vi": {
        "switch_to": "Tiếng Việt", "html_lang": "vi",
        "register_heading": "Tạo tài khoản", "phone": "Số điện thoại",
        "name": "Họ và tên", "male": "Nam", "female": "Nữ", "password": "Mật khẩu",
        "sign_up": "Đăng ký", "hello": "Xin chào, {name}",
        "verify_heading": "Nhập mã trong SMS", "sms_code": "Mã trong SMS",
        "create_account": "Tạo tài khoản của tôi",
        "welcome": "Chào mừng {name}. Tài khoản của bạn đã sẵn sàng.",
        "signup_sms": "Family Connect: mã đăng ký của bạn là {code}.",
        "plan_heading": "Gói của tôi", "code": "Mã kích hoạt", "redeem": "Kích hoạt",
        "code_accepted": "Mã đã được chấp nhận: gói Gia đình của bạn có hiệu lực đến",
        "create_heading": "Tạo gia đình của bạn", "family_name": "Tên gia đình",
        "created": "Gia đình “{name}” của bạn đã sẵn sàng.",
        "invite_caregiver": "Mời người thân", "invite_patient": "Mời người bệnh",
        "their_phone": "Số điện thoại của người được mời", "patient": "Người bệnh",
        "caregiver": "Người thân", "send_invite": "Gửi lời mời",
        "invited": "Đã mời {phone} với vai trò {role}.",
        "role_patient": "người bệnh", "role_caregiver": "người thân",
        "invite_someone_else": "Mời người khác", "back_to_family": "Quay lại gia đình",
        "invites_you": "{sender} mời bạn tham gia {family}",
        "invited_as": "Bạn được mời với vai trò {role}.",
        "signup_heading": "Tạo tài khoản để phản hồi lời mời của bạn",
        "accept": "Chấp nhận và tham gia",
        "joined": "Chào mừng bạn đến với {family}. Bạn đã tham gia với vai trò {role}.",
        "following": "Người bệnh tôi theo dõi", "nothing": "Hiện chưa có gì để hiển thị.",
        "permissions": "Quyền", "turn_off": "Tắt", "on": "Bật", "off": "Tắt",
        "turn_off_question": "Tắt quyền “{permission}” của {caregiver}?",
        "encouragement": "Gọi động viên", "health": "Xem tổng quan sức khỏe",
        "disconnect_all": "Ngắt kết nối khỏi mọi người bệnh",
        "reason": "Lý do (không bắt buộc, riêng tư)",
        "disconnected_flash": "Đã ngắt kết nối {caregiver} khỏi mọi người bệnh trong gia "
                              "đình này. Họ không được thông báo.",
        "disconnected": "Đã ngắt kết nối",
        "refused": "Bạn không thể xem báo cáo của người bệnh này.",
    },
}

NAMES = {
    "en": {"admin": "Mai Admin", "caregiver": "Lan Caregiver", "patient": "Binh Patient",
           "family": "The Nguyen family"},
    "vi": {"admin": "Trần Thị Mai", "caregiver": "Nguyễn Thị Lan",
           "patient": "Nguyễn Văn Bình", "family": "Gia đình Nguyễn"},
}


@dataclass(frozen=True)
class Person:
    """Someone of the story, with a phone number no other story uses."""

    name: str
    gender: str  # the label text of the gender radio: "male" or "female" in TEXTS
    phone: str = field(default_factory=next_phone)  # E.164, as the SMS gateway sees it

    @property
    def typed_phone(self) -> str:
        """As a person types it: 10 digits starting with 0."""
        return national(self.phone)

    @property
    def shown_phone(self) -> str:
        """As the portal shows it: 0912 345 678."""
        return display_phone(self.phone)


class Shots:
    """Numbered screenshots of the steps: NN-step.png in the test's folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def __call__(self, page: Page, step: str, focus: Locator | None = None) -> Path:
        """The viewport (not the full page: the pictures stay small), scrolled so that
        `focus`, when given, is in the middle."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        if focus is not None:
            focus.evaluate("element => element.scrollIntoView({block: 'center'})")
        page.screenshot(path=path)
        return path

    def phone_and_desk(self, page: Page, step: str, focus: Locator | None = None) -> None:
        """The step at 390 px wide, where nothing may be wider than the screen and every
        control is large enough to press, and at 1280 px; the page then goes back to the
        width it had."""
        # An answer to a plain post can be in the DOM before its stylesheet has loaded:
        # measured then, every control has the browser's own size (21 px high).
        page.wait_for_load_state("load")
        before = page.viewport_size
        page.set_viewport_size(PHONE)
        assert_fits(page)
        small = page.evaluate(_SMALL_TARGETS)
        assert small == [], f"too small to press on a phone: {small}"
        self(page, f"{step}-390px", focus)
        page.set_viewport_size(DESK)
        self(page, f"{step}-1280px", focus)
        page.set_viewport_size(before)


def sized_for_six_digits(field: Locator) -> None:
    """The code field shows six digits whole, and is not much wider than that."""
    box = field.evaluate(_CODE_BOX)
    assert box["digits"] <= box["inner"] <= box["digits"] + 6 * box["em"], box


def assert_fits(page: Page, selector: str = "body *") -> None:
    """Nothing on the page is wider than the viewport (no sideways scrolling)."""
    fit = page.evaluate(TOO_WIDE, selector)
    assert fit["scroll"] <= fit["width"], fit
    assert fit["out"] == [], fit


def press_language(page: Page, name: str) -> None:
    """Press the header's language switch ("English", "Tiếng Việt"): in the header for a
    visitor, in the account menu (opened first) for a user."""
    button = page.get_by_role("button", name=name, exact=True)
    if not button.is_visible() and page.locator(".account-menu").count():
        page.locator(".account-menu summary").click()
    button.click()


SWITCH_TO = {"en": "English", "vi": "Tiếng Việt"}  # the switch's button, by the language it picks


def use_language(page: Page, lang: str) -> None:
    """The header's language switch, when the page is not in lang already."""
    if page.locator("html").get_attribute("lang") != lang:
        press_language(page, SWITCH_TO[lang])
        expect(page.locator("html")).to_have_attribute("lang", lang)


def log_in(page: Page, live, phone: str, lang: str | None = None, *,
           password: str = FACTORY_PASSWORD) -> None:
    """Through the login page (a number however it is written), then in lang when given
    (the switch stores it on the account)."""
    page.goto(live.url("/account/login"))
    page.locator("#login").fill(national(phone) if phone.startswith("+84") else phone)
    page.locator("#password").fill(password)
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_url(lambda url: "/account/login" not in url)
    if lang is not None:
        use_language(page, lang)


# The authenticator secret of each staff member (by phone) the browser set up or the
# factories gave, and the time steps whose code the browser already typed: a code is
# taken once (issue 21).
STAFF_SECRETS: dict[str, str] = {}
_USED_STEPS: dict[str, set[int]] = {}


def authenticator_now(secret: str) -> str:
    """What the staff member's authenticator app shows now: a code of a time step not
    typed before (the next step's once this one's is used, as a phone 30 s ahead would
    show; else wait for it)."""
    used = _USED_STEPS.setdefault(secret, set())
    while True:
        step = int(time.time() // 30)
        for candidate in (step, step + 1):
            if not used or candidate > max(used):
                used.add(candidate)
                return pyotp.TOTP(secret).at(candidate * 30)
        time.sleep(30 - time.time() % 30 + 0.2)


def pass_staff_step(page: Page, live, phone: str, shots: Shots | None = None) -> None:
    """Open the staff area after the password: set up the authenticator from the secret the
    enrolment page shows (screenshots of the QR code and of the recovery codes, at 390 px
    and 1280 px, when `shots` is given), or type the app's code in the code step."""
    page.goto(live.url("/staff/"))
    if "/staff/factor/enrol" in page.url:
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        STAFF_SECRETS[phone] = secret
        if shots is not None:
            shots.phone_and_desk(page, "staff-enrol", page.locator("#enrol-qr"))
        page.locator("#code").fill(authenticator_now(secret))
        page.locator("#enrol-submit").click()
        expect(page.locator("#recovery-code-list li")).to_have_count(10)
        if shots is not None:
            shots.phone_and_desk(page, "staff-recovery-codes")
        page.locator("#recovery-continue").click()
    elif "/staff/factor" in page.url:
        page.locator("#code").fill(authenticator_now(STAFF_SECRETS.get(phone, TOTP_SECRET)))
        page.locator("#factor-submit").click()
    page.wait_for_url(lambda url: "/staff/factor" not in url)


def switch_language(page: Page, t: dict) -> None:
    """Click the language switch of the page's header and wait for the page to come back
    in that language."""
    press_language(page, t["switch_to"])
    expect(page.locator("html")).to_have_attribute("lang", t["html_lang"])


def fill_sign_up(page: Page, person: Person, t: dict) -> None:
    """The sign-up form's fields (either form: the phone of the invite one is fixed)."""
    page.get_by_label(t["name"], exact=True).fill(person.name)
    page.get_by_label(t[person.gender], exact=True).check()
    page.get_by_label(t["password"], exact=True).fill(PASSWORD)


def sign_up_and_accept(page: Page, link: str, person: Person, *, t: dict, admin: Person,
                       family: str, role: str, choose: str | None, shots: Shots) -> None:
    """An invitee opens the texted link, maybe chooses a language, signs up from the link
    and accepts: the family page welcomes them in the role they were invited to."""
    page.goto(link)
    if choose:
        switch_language(page, TEXTS[choose])
    expect(page.get_by_role("heading", level=1)).to_have_text(
        t["invites_you"].format(sender=admin.name, family=family))
    expect(page.locator("#invite-role")).to_have_text(
        t["invited_as"].format(role=t[f"role_{role}"]))
    shots(page, f"{role}-opens-link")
    page.locator("main").get_by_role("link", name=t["sign_up"], exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(t["signup_heading"])
    expect(page.get_by_label(t["phone"], exact=True)).to_have_value(person.shown_phone)
    fill_sign_up(page, person, t)
    page.get_by_role("button", name=t["sign_up"], exact=True).click()
    page.wait_for_url(re.compile(r"/i/resume$"))
    page.get_by_role("button", name=t["accept"], exact=True).click()
    page.wait_for_url(re.compile(r"/family/\d+$"))
    expect(page.locator(".flashes")).to_contain_text(
        t["joined"].format(family=family, role=t[f"role_{role}"]))
    expect(page.locator(f"#members-{role} .member").filter(has_text=person.name)).to_have_count(1)
    shots(page, f"{role}-joined")
