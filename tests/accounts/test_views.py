"""Account pages through the test client: register, log in/out, password, language, CSRF."""

from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from app.accounts.passwords import verify_password
from app.accounts.services import account_suspend
from app.extensions import db
from app.models.accounts import EmailProof, User
from app.models.audit import AuditEvent
from tests.conftest import make_app, sign_in
from tests.factories import PASSWORD, national
from tests.pages import csrf_from, errors, text
from tests.sms import texted_code, texts_to

GOOD_PASSWORD = "hoa-sen-2026"
LOGIN_PAGE = "/account/login"

MSG = {
    "phone": ("Nhập số di động Việt Nam gồm 10 chữ số, bắt đầu bằng 0, ví dụ 0912345678.",
              "Enter a Vietnamese mobile number of 10 digits starting with 0, "
              "for example 0912345678."),
    "phone_taken": ("Số điện thoại này đã có tài khoản. Vui lòng đăng nhập.",
                    "An account with this phone number already exists. Log in instead."),
    "email": ("Nhập địa chỉ email hợp lệ, ví dụ an@example.com.",
              "Enter a valid email address, for example an@example.com."),
    "too_short": ("Dùng ít nhất 8 ký tự.", "Use at least 8 characters."),
    "too_guessable": ("Mật khẩu này quá phổ biến hoặc quá dễ đoán. Vài từ của riêng bạn, "
                      "cách nhau bằng dấu cách, sẽ tạo nên một mật khẩu mạnh.",
                      "This password is too common or too easy to guess. A few words of "
                      "your own, with spaces between them, make a strong one."),
    "contains_name": ("Không tạo mật khẩu từ tên của bạn.",
                      "Do not make the password from your name."),
    "contains_phone": ("Không dùng số điện thoại của bạn trong mật khẩu.",
                       "Do not use your phone number in the password."),
    "bad_credentials": ("Số điện thoại, email hoặc mật khẩu không đúng.",
                        "The phone number, email or password is not right."),
    "suspended": ("Tài khoản này đã bị khóa. Vui lòng liên hệ bộ phận hỗ trợ để mở lại.",
                  "This account is suspended. Contact support to restore it."),
    "form_expired": ("Biểu mẫu đã hết hạn", "Form expired"),
    "form_expired_text": ("Biểu mẫu đã hết hạn hoặc được gửi từ nơi khác. "
                          "Hãy quay lại, tải lại trang và thử lại.",
                          "This form has expired or was sent from elsewhere. "
                          "Go back, reload the page and try again."),
    "too_many": ("Quá nhiều lần thử", "Too many attempts"),
}
VI, EN = 0, 1


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
def account(person):
    """A committed user (the factories' password) who reads Vietnamese, the factories'
    default and the language of these pages' strings."""
    return lambda **fields: person(**({"locale": "vi"} | fields))


@pytest.fixture
def fetch(app):
    """Read the database from outside any request: fetch(query) → list of rows/scalars."""

    def run(query):
        with app.app_context():
            return list(db.session.scalars(query))

    return run


@pytest.fixture
def counts(fetch):
    def run() -> tuple[int, int]:
        return (fetch(select(func.count()).select_from(User))[0],
                fetch(select(func.count()).select_from(AuditEvent))[0])

    return run


@pytest.fixture
def set_language(csrf):
    def do(c, locale, **data):
        return c.post("/language", data={"locale": locale, "csrf_token": csrf(c), **data})

    return do


def register_data(token: str, **fields) -> dict:
    data = {"phone": "0912345678", "name": "Trần Thị Lan", "gender": "1", "email": "",
            "password": GOOD_PASSWORD, "csrf_token": token}
    data.update(fields)
    return data


def is_logged_out(c) -> bool:
    response = c.get("/account/settings")
    return response.status_code == 302 and response.headers["Location"].startswith(LOGIN_PAGE)


# --- register ---------------------------------------------------------------------------


def test_register_page(client):
    response = client.get("/account/register")
    assert response.status_code == 200
    body = text(response)
    assert "<html" in body
    assert "Tạo tài khoản" in body
    assert 'id="register-form"' in body


def verify(c, code: str, phone: str = "0912345678", **kwargs):
    page = c.get("/account/register/verify")
    return c.post("/account/register/verify", data={
        "phone": phone, "code": code, "csrf_token": csrf_from(text(page))}, **kwargs)


@pytest.mark.parametrize("phone", ["0912345678", "0912 345 678", "0912.345.678", "+84912345678"])
def test_register_success_logs_in(app, client, csrf, fetch, use_gateway, phone):
    response = client.post("/account/register", data=register_data(
        csrf(), phone=phone, email="Lan@Example.com"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/register/verify"
    assert fetch(select(User)) == []  # not before the code comes back (ID-001)

    page = text(client.get("/account/register/verify"))
    assert 'value="0912 345 678"' in page  # the number waiting, as people write it
    response = verify(client, texted_code(app, use_gateway, "+84912345678"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/"

    user = fetch(select(User))[0]
    assert user.phone == "+84912345678"
    assert user.phone_proved
    assert user.email is None  # until the link sent to it comes back (issue 21)
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, GOOD_PASSWORD)
    assert sorted(fetch(select(AuditEvent.action))) == ["account.email_proof_sent",
                                                       "account.register"]
    assert fetch(select(EmailProof.email)) == ["lan@example.com"]

    home = text(client.get("/"))
    assert "Xin chào, Trần Thị Lan" in home
    assert "Chào mừng Trần Thị Lan. Tài khoản của bạn đã sẵn sàng." in home
    assert client.get("/account/settings").status_code == 200


def test_register_stores_the_session_language(app, client, csrf, set_language, fetch,
                                              use_gateway):
    set_language(client, "en")
    assert client.post("/account/register", data=register_data(csrf())).status_code == 303
    sms = texts_to(app, use_gateway, "+84912345678")
    assert sms
    assert sms[-1].startswith("Family Connect: your sign-up code is ")
    assert verify(client, texted_code(app, use_gateway, "+84912345678")).status_code == 303
    assert fetch(select(User.locale)) == ["en"]
    assert "Hello, Trần Thị Lan" in text(client.get("/"))


def test_register_follows_a_local_next_only(app, client, csrf, use_gateway):
    response = client.post("/account/register?next=/account/settings", data=register_data(csrf()))
    assert response.headers["Location"] == "/account/register/verify?next=/account/settings"
    code = texted_code(app, use_gateway, "+84912345678")
    page = client.get(response.headers["Location"])
    response = client.post(response.headers["Location"], data={
        "phone": "0912345678", "code": code, "csrf_token": csrf_from(text(page))})
    assert response.headers["Location"] == "/account/settings"


REFUSALS = [
    # id, form fields, existing account, message key
    ("phone_short", {"phone": "12345"}, None, "phone"),
    ("phone_not_vn", {"phone": "0123456789"}, None, "phone"),
    ("phone_11_digits", {"phone": "09123456789"}, None, "phone"),
    ("password_short", {"password": "abc1234"}, None, "too_short"),
    ("password_guessable", {"password": "qwerty12"}, None, "too_guessable"),
    ("password_common", {"password": "Password123"}, None, "too_guessable"),
    ("password_contains_phone", {"password": "lan0912345678"}, None, "contains_phone"),
    ("password_of_the_name", {"password": "Lan Tran 1990"}, None, "contains_name"),
    ("email_bad", {"email": "lan@"}, None, "email"),
]


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize(("fields", "existing", "key"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_register_refusals(client, csrf, set_language, account, counts, lang, fields,
                           existing, key):
    if existing:
        account(**existing)
    if lang == "en":
        set_language(client, "en")
    before = counts()

    response = client.post("/account/register", data=register_data(csrf(), **fields))

    assert response.status_code == 422
    expected = MSG[key][EN if lang == "en" else VI]
    other = MSG[key][VI if lang == "en" else EN]
    assert expected in errors(response)
    assert other not in text(response)
    assert counts() == before
    assert is_logged_out(client)


def test_register_reports_every_problem_at_once(client, csrf, counts):
    response = client.post("/account/register", data=register_data(
        csrf(), phone="12345", email="lan@", password="Password123"))
    assert response.status_code == 422
    shown = errors(response)
    wanted = (MSG["phone"][VI], MSG["email"][VI], MSG["too_guessable"][VI])
    assert list(wanted) == [m for m in shown if m in wanted]
    assert counts() == (0, 0)


def test_register_missing_fields_are_all_reported(client, csrf, counts):
    response = client.post("/account/register", data=register_data(
        csrf(), phone="", name="", gender="", password=""))
    assert response.status_code == 422
    assert errors(response).count("Vui lòng điền thông tin này.") == 4
    assert counts() == (0, 0)


def test_register_empty_field_does_not_hide_the_other_problems(client, csrf, counts):
    # The name is missing (a form check) and the phone and password are wrong (service
    # checks): one submit shows all three, and the name's problem only once.
    response = client.post("/account/register", data=register_data(
        csrf(), phone="12345", name="", password="abc"))
    assert response.status_code == 422
    shown = errors(response)
    assert shown.count("Vui lòng điền thông tin này.") == 1
    assert any("10 chữ số" in e for e in shown)
    assert "Dùng ít nhất 8 ký tự." in shown
    assert "Nhập họ tên của bạn (tối đa 100 ký tự)." not in shown
    assert counts() == (0, 0)


def test_register_422_is_a_whole_page_without_htmx(client, csrf):
    response = client.post("/account/register", data=register_data(csrf(), phone="12345"))
    assert response.status_code == 422
    body = text(response)
    assert "<html" in body
    assert 'id="register-form"' in body


def test_register_422_is_the_form_partial_for_htmx(client, csrf, counts):
    response = client.post("/account/register", data=register_data(csrf(), phone="12345"),
                           headers={"HX-Request": "true"})
    assert response.status_code == 422
    body = text(response)
    assert "<html" not in body
    assert body.lstrip().startswith('<form id="register-form"')
    assert MSG["phone"][VI] in errors(response)
    # the user's input is kept
    assert 'value="12345"' in body
    assert "HX-Request" in response.headers.get("Vary", "")
    assert counts() == (0, 0)


def test_register_success_for_htmx_redirects_with_hx_redirect(client, csrf, counts):
    response = client.post("/account/register", data=register_data(csrf()),
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/account/register/verify"
    assert counts() == (0, 0)  # the account waits for its code


def test_register_when_logged_in_goes_home(client, account, csrf, counts):
    user = account()
    sign_in(client, user.phone)
    response = client.post("/account/register", data=register_data(csrf()))
    assert response.status_code == 302
    assert counts()[0] == 1


# --- log in -----------------------------------------------------------------------------


def test_login_page(client):
    response = client.get(LOGIN_PAGE)
    assert response.status_code == 200
    assert 'id="login-form"' in text(response)


def test_login_with_national_phone(client, account):
    user = account(name="Lê Văn Bình")
    response = sign_in(client, national(user.phone))
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "Xin chào, Lê Văn Bình" in text(client.get("/"))


@pytest.mark.parametrize("typed", ["binh@example.com", "BINH@Example.COM", " Binh@example.com "])
def test_login_with_email_in_any_case(client, account, typed):
    account(email="binh@example.com")
    assert sign_in(client, typed).status_code == 303
    assert client.get("/account/settings").status_code == 200


def test_wrong_password_and_unknown_login_get_the_same_answer(client, account):
    user = account(email="binh@example.com")
    wrong = sign_in(client, national(user.phone), "sai-matkhau-1")
    unknown_phone = sign_in(client, "0987654321")
    unknown_email = sign_in(client, "ai@example.com")
    for response in (wrong, unknown_phone, unknown_email):
        assert response.status_code == 401
        assert errors(response) == [MSG["bad_credentials"][VI]]
    assert is_logged_out(client)


def test_login_failure_in_english(client, set_language):
    set_language(client, "en")
    response = sign_in(client, "0987654321")
    assert response.status_code == 401
    assert errors(response) == [MSG["bad_credentials"][EN]]


def test_login_failure_for_htmx_is_the_partial(client):
    response = sign_in(client, "0987654321", headers={"HX-Request": "true"})
    assert response.status_code == 401  # in the form: htmx swaps every status (base.html)
    assert "<html" not in text(response)
    assert 'id="login-form"' in text(response)


def test_login_empty_fields_422(client):
    response = sign_in(client, "", "")
    assert response.status_code == 422
    assert errors(response).count("Vui lòng điền thông tin này.") == 2


def test_suspended_account_with_right_password_gets_403(client, account):
    user = account(is_active=False)
    response = sign_in(client, national(user.phone))
    assert response.status_code == 403
    assert errors(response) == [MSG["suspended"][VI]]
    assert is_logged_out(client)


def test_suspended_account_with_wrong_password_gets_the_generic_401(client, account):
    user = account(is_active=False)
    response = sign_in(client, national(user.phone), "sai-matkhau-1")
    assert response.status_code == 401
    assert errors(response) == [MSG["bad_credentials"][VI]]
    assert MSG["suspended"][VI] not in text(response)


@pytest.mark.parametrize(("next_url", "location"), [
    ("/account/settings", "/account/settings"),
    ("//evil.example/x", "/"),
    ("https://evil.example/", "/"),
    ("/\\evil.example", "/"),
])
def test_login_next_is_local_only(client, account, next_url, location):
    user = account()
    response = sign_in(client, user.phone, query_string={"next": next_url})
    assert response.status_code == 303
    assert response.headers["Location"] == location


def test_login_uses_the_users_stored_language(client, account):
    user = account(locale="en", name="Lê Văn Bình")
    sign_in(client, user.phone)
    assert "Hello, Lê Văn Bình" in text(client.get("/"))


def test_login_starts_a_fresh_session(client, account, csrf):
    user = account()
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    token_before = csrf()
    sign_in(client, user.phone)
    with client.session_transaction() as session:
        assert "planted" not in session
    # the pre-login CSRF token is void: a token planted before login cannot be replayed
    response = client.post("/language", data={"locale": "en", "csrf_token": token_before})
    assert response.status_code == 400
    assert client.post("/language", data={"locale": "en", "csrf_token": csrf()}
                       ).status_code == 303


def test_login_rate_limit_per_client(client):
    for i in range(10):
        assert sign_in(client, f"nobody{i}@example.com").status_code == 401
    response = sign_in(client, "nobody-else@example.com")
    assert response.status_code == 429
    assert MSG["too_many"][VI] in text(response)
    # GET is not limited
    assert client.get(LOGIN_PAGE).status_code == 200


def test_login_rate_limit_per_account_across_addresses(client, account):
    user = account()
    local = national(user.phone)
    # the same number however it is written counts as one account
    spellings = [user.phone, local, f"{local[:4]} {local[4:7]} {local[7:]}",
                 f"+84 {local[1:4]} {local[4:]}"]
    for i in range(10):
        response = sign_in(client, spellings[i % len(spellings)], "sai-matkhau-1",
                         environ_base={"REMOTE_ADDR": f"10.0.0.{i + 1}"})
        assert response.status_code == 401
    response = sign_in(client, local, environ_base={"REMOTE_ADDR": "10.0.1.1"})
    assert response.status_code == 429
    # another account from a fresh address is not held back
    other = account()
    assert sign_in(client, other.phone, environ_base={"REMOTE_ADDR": "10.0.2.1"}).status_code == 303


# --- log out, sessions ------------------------------------------------------------------


def test_logout_get_is_405(client, account):
    sign_in(client, account().phone)
    assert client.get("/account/logout").status_code == 405
    assert client.get("/account/settings").status_code == 200


def test_logout_without_csrf_is_refused(client, account):
    sign_in(client, account().phone)
    response = client.post("/account/logout")
    assert response.status_code == 400
    assert client.get("/account/settings").status_code == 200


def test_logout_ends_every_session_of_the_user(app, client, account, csrf, fetch):
    user = account()
    other = app.test_client()
    sign_in(client, user.phone)
    sign_in(other, user.phone)
    assert other.get("/account/settings").status_code == 200

    response = client.post("/account/logout", data={"csrf_token": csrf(client)})
    assert response.status_code == 303
    assert response.headers["Location"] == LOGIN_PAGE
    assert "Bạn đã đăng xuất trên mọi thiết bị." in text(client.get(LOGIN_PAGE))

    assert is_logged_out(client)
    assert is_logged_out(other)
    assert fetch(select(AuditEvent.action).where(AuditEvent.actor_id == user.id)
                 .order_by(AuditEvent.id))[-1] == (
        "account.logout")


def test_logout_keeps_the_users_language(client, account, csrf):
    sign_in(client, account(locale="en").phone)
    client.post("/account/logout", data={"csrf_token": csrf(client)})
    page = text(client.get(LOGIN_PAGE))
    assert "<h1>Log in</h1>" in page
    assert "You are logged out on every device." in page


def test_logout_leaves_other_users_logged_in(app, client, account, csrf):
    other = app.test_client()
    sign_in(client, account().phone)
    sign_in(other, account().phone)
    client.post("/account/logout", data={"csrf_token": csrf(client)})
    assert other.get("/account/settings").status_code == 200


def test_logged_out_user_can_log_in_again(client, account, csrf):
    user = account()
    sign_in(client, user.phone)
    client.post("/account/logout", data={"csrf_token": csrf(client)})
    assert sign_in(client, user.phone).status_code == 303
    assert client.get("/account/settings").status_code == 200


def test_settings_needs_login(client):
    response = client.get("/account/settings")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(LOGIN_PAGE + "?next=")


def test_change_password_keeps_this_session_and_ends_the_others(app, client, account,
                                                                 csrf, fetch):
    user = account()
    other = app.test_client()
    sign_in(client, user.phone)
    sign_in(other, user.phone)

    response = client.post("/account/settings/password", data={
        "current_password": PASSWORD, "new_password": "moi-matkhau-77",
        "csrf_token": csrf(client)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/settings"

    page = client.get("/account/settings")
    assert page.status_code == 200
    assert "Đã đổi mật khẩu. Các phiên đăng nhập khác của bạn đã bị đăng xuất." in text(page)
    assert is_logged_out(other)
    stored = fetch(select(User.password_hash))[0]
    assert verify_password(stored, "moi-matkhau-77")
    assert not verify_password(stored, PASSWORD)
    assert "account.password_changed" in fetch(select(AuditEvent.action))


@pytest.mark.parametrize(("current", "new", "message"), [
    ("sai-matkhau-1", "moi-matkhau-77", "Mật khẩu hiện tại không đúng."),
    (PASSWORD, "short1", MSG["too_short"][VI]),
    (PASSWORD, "password123", MSG["too_guessable"][VI]),
])
def test_change_password_refused(app, client, account, csrf, fetch, current, new,
                                 message):
    user = account()
    other = app.test_client()
    sign_in(client, user.phone)
    sign_in(other, user.phone)
    response = client.post("/account/settings/password", data={
        "current_password": current, "new_password": new, "csrf_token": csrf(client)})
    assert response.status_code == 422
    assert "<html" in text(response)
    assert message in errors(response)
    assert verify_password(fetch(select(User.password_hash))[0], PASSWORD)
    assert other.get("/account/settings").status_code == 200


def test_change_password_refused_for_htmx_is_the_partial(client, account, csrf):
    sign_in(client, account().phone)
    response = client.post("/account/settings/password", headers={"HX-Request": "true"}, data={
        "current_password": "sai-matkhau-1", "new_password": "moi-matkhau-77",
        "csrf_token": csrf(client)})
    assert response.status_code == 422
    body = text(response)
    assert "<html" not in body
    assert body.lstrip().startswith('<form id="password-form"')


def test_suspension_ends_the_users_sessions(app, client, account):
    user = account()
    staff = account(is_staff=True)
    sign_in(client, user.phone)
    assert client.get("/account/settings").status_code == 200
    with app.app_context(), force_locale("vi"):
        account_suspend(actor=db.session.get(User, staff.id), user=db.session.get(User, user.id),
                        reason="x")
        db.session.commit()
    assert is_logged_out(client)
    assert sign_in(client, user.phone).status_code == 403


# --- language ---------------------------------------------------------------------------


def test_language_for_a_logged_in_user_is_stored_on_the_user(app, client, account,
                                                              set_language, fetch):
    user = account()
    sign_in(client, user.phone)
    response = set_language(client, "en", next="/account/settings")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/settings"
    assert fetch(select(User.locale).where(User.id == user.id)) == ["en"]

    page = text(client.get("/account/settings"))
    assert '<html lang="en">' in page
    assert "<h1>Settings</h1>" in page
    # the choice follows the user to another device
    other = app.test_client()
    sign_in(other, user.phone)
    assert "<h1>Settings</h1>" in text(other.get("/account/settings"))


def test_language_for_a_visitor_is_kept_in_the_session(client, set_language, counts):
    assert '<html lang="vi">' in text(client.get("/"))
    set_language(client, "en")
    with client.session_transaction() as session:
        assert session["locale"] == "en"
    page = text(client.get(LOGIN_PAGE))
    assert '<html lang="en">' in page
    assert "<h1>Log in</h1>" in page
    assert counts() == (0, 0)


@pytest.mark.parametrize("locale", ["fr", "", "EN", "vi_VN"])
def test_unknown_language_falls_back_to_vietnamese(client, account, set_language, fetch,
                                                   locale):
    user = account(locale="en")
    sign_in(client, user.phone)
    set_language(client, locale)
    assert fetch(select(User.locale)) == ["vi"]
    assert "<h1>Cài đặt</h1>" in text(client.get("/account/settings"))


def test_unknown_language_for_a_visitor_falls_back_to_vietnamese(client, set_language):
    set_language(client, "en")
    set_language(client, "de")
    with client.session_transaction() as session:
        assert session["locale"] == "vi"
    assert '<html lang="vi">' in text(client.get("/"))


def test_language_next_is_local_only(client, set_language):
    response = set_language(client, "en", next="//evil.example/")
    assert response.headers["Location"] == "/"


# --- CSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_post_without_csrf_token_is_refused(client, set_language, counts, lang):
    if lang == "en":
        set_language(client, "en")
    client.get("/")  # the session exists; only the token is missing
    before = counts()
    response = client.post("/account/register", data=register_data(""))
    assert response.status_code == 400
    body = text(response)
    index = EN if lang == "en" else VI
    assert MSG["form_expired"][index] in body
    assert MSG["form_expired_text"][index] in body
    assert counts() == before
    assert is_logged_out(client)


def test_post_with_a_token_from_another_session_is_refused(app, client, csrf, counts):
    other = app.test_client()
    response = client.post("/account/register", data=register_data(csrf(other)))
    assert response.status_code == 400
    assert counts() == (0, 0)


def test_language_without_csrf_changes_nothing(client):
    client.get("/")
    response = client.post("/language", data={"locale": "en"})
    assert response.status_code == 400
    with client.session_transaction() as session:
        assert session.get("locale") is None


def test_htmx_post_with_the_token_in_the_header_is_accepted(client, csrf, counts):
    token = csrf()
    data = register_data(token)
    del data["csrf_token"]
    response = client.post("/account/register", data=data,
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/account/register/verify"
    assert counts() == (0, 0)  # the account waits for its code


def test_htmx_language_switch_with_the_token_in_the_header(client, csrf):
    token = csrf()
    response = client.post("/language", data={"locale": "en"},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 303
    with client.session_transaction() as session:
        assert session["locale"] == "en"


# --- cookies ----------------------------------------------------------------------------


def session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("fc_session=")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    return cookies[0]


def cookie_flags(cookie: str) -> set[str]:
    return {part.strip().lower() for part in cookie.split(";")[1:]}


def test_session_cookie_flags_in_test_config(client):
    flags = cookie_flags(session_cookie(client.get("/")))
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "secure" not in flags


def test_session_cookie_flags_after_login(client, account):
    response = sign_in(client, account().phone)
    flags = cookie_flags(session_cookie(response))
    assert {"httponly", "samesite=lax"} <= flags


def test_session_cookie_is_secure_in_production(app, client):
    production = make_app(app.config["SQLALCHEMY_DATABASE_URI"], APP_ENV="production",
                          SECRET_KEY="x" * 40)
    try:
        prod_client = production.test_client()
        # production forces HTTPS
        assert prod_client.get("/").status_code == 302
        flags = cookie_flags(session_cookie(prod_client.get("/", base_url="https://localhost")))
        assert {"secure", "httponly", "samesite=lax"} <= flags
        # Making a production app changes nothing for the apps already running.
        assert client.get("/").status_code == 200
    finally:
        with production.app_context():
            db.engine.dispose()


# --- audit ------------------------------------------------------------------------------


def test_account_actions_are_audited(app, client, csrf, fetch, use_gateway):
    client.post("/account/register", data=register_data(csrf()))
    verify(client, texted_code(app, use_gateway, "+84912345678"))
    client.post("/account/logout", data={"csrf_token": csrf()})
    sign_in(client, "0912345678", "sai-matkhau-1")
    sign_in(client, "0912345678", GOOD_PASSWORD)
    client.post("/account/settings/password", data={
        "current_password": GOOD_PASSWORD, "new_password": "moi-matkhau-77",
        "csrf_token": csrf()})

    user_id = fetch(select(User.id))[0]
    events = fetch(select(AuditEvent).order_by(AuditEvent.id))
    assert [(e.action, e.actor_id) for e in events] == [
        ("account.register", user_id),
        ("account.logout", user_id),
        ("account.login_failed", None),
        ("account.login", user_id),
        ("account.password_changed", user_id),
    ]
    assert {e.ip for e in events} == {"127.0.0.1"}


def test_failed_login_of_an_unknown_login_is_audited(client, fetch):
    sign_in(client, "0987654321")
    events = fetch(select(AuditEvent))
    assert [(e.action, e.actor_id, e.subject_id) for e in events] == [
        ("account.login_failed", None, None)]
