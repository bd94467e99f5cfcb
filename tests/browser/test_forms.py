"""Issue 18 in Chromium, JavaScript on, at 390 px (a phone) and 1280 px (a desk), in
Vietnamese and English:

- a wrong password shows its message in the login form (htmx swaps the 401 in place),
  and a lockout (Flask-Limiter's 429) shows the wait and the reset link in the form, not
  in a corner of the page — on the login page and on the invite link's login;
- the invite's "Copy link" button copies the whole link to the clipboard and says
  "Copied" in its live region; without JavaScript there is no button, and the link is
  there whole to select;
- Decline stands well apart from Accept on a phone;
- the pages of the issue (the family page with a full role and its danger zone, the
  invite form that says so, the link page of a new invitee, the fixed number of its
  sign-up, the used link) are seen at both widths in both languages.

Screenshots go to test-output/screenshots/<backend>/<test>/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from app.extensions import db, limiter
from app.invites.services import invite_create
from app.models.accounts import User
from app.models.groups import FamilyGroup
from app.models.invites import ConnectionInvite
from tests.browser.story import DESK, PHONE, Shots, log_in, use_language
from tests.factories import (
    PASSWORD,
    make_group,
    make_member,
    make_subscription,
    make_user,
    national,
    next_phone,
)

LANGUAGES = ["vi", "en"]
LOCALES = {"vi": "vi-VN", "en": "en-US"}
SIZES = {"390": PHONE, "1280": DESK}
LIMIT = "3 per minute"  # the login limit while a test locks itself out

TEXTS = {
    "en": {
        "login": "Phone number or email", "password": "Password", "log_in": "Log in",
        "wrong": "The phone number, email or password is not right.",
        "wait": re.compile(r"^Too many attempts\. Try again in \d+ (seconds?|minute)\.$"),
        "reset": "Locked out of your account? Reset your password with a code sent to your "
                 "phone.",
        "copy": "Copy link", "copied": "Copied", "phone": "Their phone number",
        "caregiver": "Caregiver", "send": "Send the invite", "accept": "Accept and join",
        "decline": "Decline this invite",
    },
    "vi": {
        "login": "Số điện thoại hoặc email", "password": "Mật khẩu", "log_in": "Đăng nhập",
        "wrong": "Số điện thoại, email hoặc mật khẩu không đúng.",
        "wait": re.compile(r"^Quá nhiều lần thử\. Vui lòng thử lại sau \d+ (giây|phút)\.$"),
        "reset": "Không vào được tài khoản? Hãy đặt lại mật khẩu bằng mã gửi tới điện "
                 "thoại của bạn.",
        "copy": "Sao chép liên kết", "copied": "Đã sao chép",
        "phone": "Số điện thoại của người được mời",
        "caregiver": "Người thân", "send": "Gửi lời mời", "accept": "Chấp nhận và tham gia",
        "decline": "Từ chối lời mời này",
    },
}


@pytest.fixture
def low_login_limit(live):
    """LIMIT for this test, from empty buckets; the live server's own limit afterwards."""
    before = live.app.config["LOGIN_RATE_LIMIT"]
    with live.app.app_context():
        limiter.reset()
    live.app.config["LOGIN_RATE_LIMIT"] = LIMIT
    yield
    live.app.config["LOGIN_RATE_LIMIT"] = before
    with live.app.app_context():
        limiter.reset()


def seeded(live, fn):
    """fn() inside the live app, committed; its result."""
    with live.app.app_context():
        result = fn()
        db.session.commit()
        db.session.remove()
    return result


def new_user(live, **fields) -> str:
    """A committed user (the factories' password); their phone."""
    return seeded(live, lambda: make_user(**fields).phone)


def submit_login(page: Page, t: dict, login: str, password: str, form: str, status: int):
    """Fill and send the login form `form` (htmx); the answer's status must be `status`."""
    page.locator(f"#{form}").get_by_label(t["login"], exact=True).fill(login)
    page.locator(f"#{form}").get_by_label(t["password"], exact=True).fill(password)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator(f"#{form}").get_by_role("button", name=t["log_in"], exact=True).click()
    assert answer.value.status == status
    assert answer.value.request.headers.get("hx-request") == "true"  # htmx, JS on


def check_login_errors(page: Page, t: dict, shots: Shots, login: str, form: str) -> None:
    """Wrong passwords until the lockout: each message in the form, in sight."""
    submit_login(page, t, login, "sai-mat-khau-2026", form, 401)
    error = page.locator(f"#{form} .form-error")
    expect(error).to_have_text(t["wrong"])
    expect(error).to_be_in_viewport()
    expect(page.locator("#flashes")).to_be_empty()
    shots(page, "wrong-password", focus=page.locator(f"#{form}"))
    # Afresh: Playwright's screenshot leaves style="" on the page's inputs, which htmx would
    # then copy onto the swapped-in form's (a CSP report that is the test's, not the app's).
    page.reload()
    for _ in range(2):
        submit_login(page, t, login, "sai-mat-khau-2026", form, 401)
    submit_login(page, t, login, PASSWORD, form, 429)  # the right one, too late
    locked = page.locator(f"#{form}-locked")
    expect(locked).to_be_visible()
    expect(locked).to_be_in_viewport()
    expect(locked).to_have_attribute("role", "alert")
    expect(locked.locator(".lead")).to_have_text(t["wait"])
    reset = locked.get_by_role("link", name=t["reset"], exact=True)
    expect(reset).to_have_attribute("href", "/account/password-reset")
    expect(page.locator("#flashes")).to_be_empty()  # not in a corner of the page
    shots(page, "locked-out", focus=page.locator(f"#{form}"))
    assert "/account/settings" not in page.url


def _invited_person() -> tuple[str, str]:
    """Someone with an account, invited as a caregiver: their number and the link's token."""
    admin = make_user(name="Trần Văn Quản")
    invitee = make_user(name="Lê Thị Hạnh")
    issued = invite_create(actor=admin, group=make_group(admin, name="Gia đình Trần"),
                           phone=invitee.phone, role="caregiver")
    return invitee.phone, issued.token


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_login_errors_show_in_the_form(lang, size, live, new_page, screenshots,
                                       low_login_limit):
    t, shots = TEXTS[lang], Shots(screenshots)
    phone = new_user(live)
    page = new_page(LOCALES[lang], refusals_ok=True)  # the 401s and the 429 are the point
    page.set_viewport_size(SIZES[size])
    page.goto(live.url("/account/login"))
    use_language(page, lang)
    check_login_errors(page, t, shots, national(phone), "login-form")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_invite_links_login_errors_show_in_its_form(lang, live, new_page, screenshots,
                                                        low_login_limit):
    t, shots = TEXTS[lang], Shots(screenshots)

    phone, token = seeded(live, _invited_person)
    page = new_page(LOCALES[lang], refusals_ok=True)
    page.set_viewport_size(PHONE)
    page.goto(live.url(f"/i/{token}"))
    use_language(page, lang)
    page.locator("#invite-login").click()
    page.wait_for_url(re.compile(r"/i/login$"))
    check_login_errors(page, t, shots, national(phone), "invite-login-form")


# --- the invite link: whole, and copied --------------------------------------------------


def an_admin(live, **plan) -> tuple[str, int]:
    """An admin with a plan and a family; (phone, group id)."""

    def make():
        admin = make_user(name="Trần Thị Mai")
        group = make_group(admin, name="Gia đình Trần",
                           subscription=make_subscription(admin, **plan))
        return admin.phone, group.id

    return seeded(live, make)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_copy_button_copies_the_whole_link(lang, size, live, new_page, screenshots):
    t, shots = TEXTS[lang], Shots(screenshots)
    phone, group_id = an_admin(live)
    invitee = next_phone()
    page = new_page(LOCALES[lang])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=live.base_url)
    page.set_viewport_size(SIZES[size])
    log_in(page, live, phone, lang)
    page.goto(live.url(f"/family/{group_id}/invites?role=caregiver"))
    page.get_by_label(t["phone"], exact=True).fill(national(invitee))
    page.get_by_label(t["caregiver"], exact=True).check()
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name=t["send"], exact=True).click()
    assert answer.value.status == 201
    link = live.invite_link(invitee)
    box = page.locator("#invite-link")
    expect(box).to_have_value(link)
    # Whole: nothing of it hidden to the side or below, at this width.
    sizes = box.evaluate("e => [e.scrollWidth, e.clientWidth, e.scrollHeight, e.clientHeight]")
    assert sizes[0] <= sizes[1], sizes
    assert sizes[2] <= sizes[3], sizes
    button = page.get_by_role("button", name=t["copy"], exact=True)
    expect(button).to_be_visible()  # put in by copy.js on the swapped-in answer
    status = page.locator("#invite-link-copied")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_be_empty()
    button.click()
    expect(status).to_have_text(t["copied"])
    assert page.evaluate("navigator.clipboard.readText()") == link
    shots(page, "link-copied", focus=page.locator("#invite-panel"))


def test_the_invite_sent_page_copies_and_without_javascript_shows_no_button(
        live, browser, new_page, screenshots):
    """The whole page (a resend from the family page, a plain post): copy.js is loaded by the
    page itself; without JavaScript there is no button, and the link can be selected."""
    t, shots = TEXTS["vi"], Shots(screenshots)
    phone, group_id = an_admin(live)

    def make_invite():
        group = db.session.get(FamilyGroup, group_id)
        admin = db.session.get(User, group.admin_user_id)
        return invite_create(actor=admin, group=group, phone=next_phone(),
                             role="caregiver").invite.id

    invite_id = seeded(live, make_invite)
    page = new_page("vi-VN")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                   origin=live.base_url)
    page.set_viewport_size(PHONE)
    log_in(page, live, phone, "vi")
    page.goto(live.url(f"/family/{group_id}"))
    page.locator(f"#invite-{invite_id} form[action$='/resend'] button").click()
    page.wait_for_url(re.compile(rf"/invites/{invite_id}/resend$"))
    link = page.locator("#invite-link").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/i/[A-Za-z0-9_\-]{43}", link), link
    page.get_by_role("button", name=t["copy"], exact=True).click()
    expect(page.locator("#invite-link-copied")).to_have_text(t["copied"])
    assert page.evaluate("navigator.clipboard.readText()") == link
    shots.phone_and_desk(page, "invite-sent-again")

    context = browser.new_context(java_script_enabled=False, locale="vi-VN", viewport=PHONE)
    try:
        plain = context.new_page()
        log_in(plain, live, phone, "vi")
        plain.goto(live.url(f"/family/{group_id}"))
        plain.locator(f"#invite-{invite_id} form[action$='/resend'] button").click()
        plain.wait_for_url(re.compile(rf"/invites/{invite_id}/resend$"))
        expect(plain.get_by_role("button", name=t["copy"], exact=True)).to_have_count(0)
        box = plain.locator("#invite-link")
        expect(box).to_be_visible()
        new_link = box.input_value()
        assert new_link != link  # a resend voids the old link
        box.select_text()  # selectable as it is
        assert plain.evaluate("() => { const e = document.getElementById('invite-link');"
                              " return e.value.substring(e.selectionStart, e.selectionEnd) }"
                              ) == new_link
        shots.phone_and_desk(plain, "invite-sent-without-javascript")
    finally:
        context.close()


# --- Decline apart from Accept -----------------------------------------------------------


def test_decline_is_at_least_44px_from_accept_on_a_phone(live, new_page, screenshots):
    t, shots = TEXTS["vi"], Shots(screenshots)

    phone, token = seeded(live, _invited_person)
    page = new_page("vi-VN")
    page.set_viewport_size(PHONE)
    log_in(page, live, phone, "vi")
    for path, step in ((f"/i/{token}", "link-page"), ("/invites", "my-invites")):
        page.goto(live.url(path))
        accept = page.get_by_role("button", name=t["accept"], exact=True).first
        decline = page.locator("form.decline button").first
        a, d = accept.bounding_box(), decline.bounding_box()
        assert d["y"] - (a["y"] + a["height"]) >= 44, (path, a, d)
        assert d["height"] >= 44, (path, d)
        shots(page, f"decline-apart-{step}", focus=decline)




# --- the pages of the issue, seen ----------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_pages_of_the_issue(lang, live, new_page, screenshots):
    """The family page with no free patient place (the notice with "My plan", a secondary
    invite button, no "Add me as patient") and its danger zone; the invite form saying so
    up front; a new invitee's link page (Sign up first), the fixed number of its sign-up;
    a used link with its Log in button. Each at 390 px and 1280 px."""
    shots = Shots(screenshots)

    def make():
        admin = make_user(name="Nguyễn Văn An", locale=lang)
        group = make_group(admin, name="Gia đình Nguyễn",
                           subscription=make_subscription(admin, patients=1, caregivers=4))
        make_member(group, make_user(name="Nguyễn Văn Bình"), role="patient")
        make_member(group, admin, role="caregiver")
        fresh = invite_create(actor=admin, group=group, phone=next_phone(), role="caregiver")
        used = invite_create(actor=admin, group=group, phone=next_phone(), role="caregiver")
        db.session.get(ConnectionInvite, used.invite.id).status = "accepted"
        return admin.phone, group.id, fresh.token, used.token

    phone, group_id, fresh, used = seeded(live, make)
    visitor = new_page(LOCALES[lang], refusals_ok=True)  # the used link answers 409
    visitor.goto(live.url(f"/i/{fresh}"))
    use_language(visitor, lang)
    ways = visitor.locator(".ways-in a.button")
    expect(ways.first).to_have_attribute("id", "invite-signup")
    expect(ways.nth(1)).to_have_class("button secondary")
    shots.phone_and_desk(visitor, "new-invitee-link", focus=visitor.locator(".ways-in"))
    visitor.locator("#invite-signup").click()
    visitor.wait_for_url(re.compile(r"/i/signup$"))
    number = visitor.locator("#phone")
    expect(number).to_have_attribute("readonly", "")
    # drawn as text (forms.css): no box around it
    assert number.evaluate("e => getComputedStyle(e).borderTopColor") == "rgba(0, 0, 0, 0)"
    shots.phone_and_desk(visitor, "sign-up-fixed-number")
    visitor.goto(live.url(f"/i/{used}"))
    expect(visitor.locator("#link-state-login")).to_be_visible()
    shots.phone_and_desk(visitor, "used-link")

    admin = new_page(LOCALES[lang])
    log_in(admin, live, phone, lang)
    admin.goto(live.url(f"/family/{group_id}"))
    expect(admin.locator("#invite-button-patient")).to_have_class("button secondary")
    expect(admin.locator("#invite-button-caregiver")).to_have_class("button")
    expect(admin.locator("#limit-patient a")).to_have_attribute("href", "/plan")
    expect(admin.locator("#self-add-patient")).to_have_count(0)
    shots.phone_and_desk(admin, "family-patients-full", focus=admin.locator("#slots-patient"))
    shots.phone_and_desk(admin, "family-danger-zone", focus=admin.locator("#danger-zone"))
    admin.locator("#invite-button-patient").click()
    admin.wait_for_url(re.compile(r"/invites\?role=patient$"))
    expect(admin.locator("#invite-limit-patient")).to_be_visible()
    shots.phone_and_desk(admin, "invite-form-says-full")
