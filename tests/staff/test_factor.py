"""Staff's second factor (issue 21): enrolment from the shown secret, the code step every
staff page waits behind, replayed and wrong codes, recovery codes, the fresh code of every
action, the API's tokens, the session's idle and absolute limits, and the reset command."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models.accounts import ApiToken, StaffFactor, StaffRecoveryCode, User
from tests.conftest import new_person, sign_in
from tests.factories import TOTP_SECRET, authenticator_code, make_group, totp_now
from tests.pages import errors, flashes, post, staff_post, text
from tests.service_helpers import audits

SECRET_RE = re.compile(r'<code class="totp-secret" id="totp-secret">([A-Z2-7 ]+)</code>')
RECOVERY_RE = re.compile(r'<code class="recovery-code">([A-Z2-9]{5}-[A-Z2-9]{5})</code>')


def signed_in(app, who):
    """A client after the password only: the staff area still waits for the second step."""
    c = app.test_client()
    assert sign_in(c, who.phone).status_code == 303
    return c


def code_step(c, code: str):
    return post(c, "/staff/factor", {"code": code})


def factor_row(app, user_id: int) -> StaffFactor | None:
    with app.app_context():
        row = db.session.get(StaffFactor, user_id)
        if row is not None:
            db.session.expunge(row)
        return row


def step_now() -> int:
    return int(time.time() // 30)


def code_at(step: int, secret: str = TOTP_SECRET) -> str:
    return pyotp.TOTP(secret).at(step * 30)


def set_last_step(app, user_id: int, step: int | None) -> None:
    with app.app_context():
        db.session.get(StaffFactor, user_id).last_step = step
        db.session.commit()


def is_active(app, user_id: int) -> bool:
    with app.app_context():
        return db.session.get(User, user_id).is_active


# --- enrolment --------------------------------------------------------------------------


def test_enrolment_with_the_code_computed_from_the_shown_secret(app):
    staff = new_person(app, is_staff=True, enrolled=False)
    c = signed_in(app, staff)
    answer = c.get("/staff/groups")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/staff/factor/enrol")
    page = c.get(answer.headers["Location"])
    assert page.status_code == 200
    body = text(page)
    assert "<svg" in body  # the QR code, inline: no image request, the CSP as it was
    secret = SECRET_RE.search(body).group(1).replace(" ", "")
    assert c.get("/staff/factor/enrol").status_code == 200
    assert SECRET_RE.search(text(c.get("/staff/factor/enrol"))).group(1).replace(" ", "") \
        == secret  # a reload shows the same secret until it is confirmed

    wrong = post(c, "/staff/factor/enrol", {"code": "000000", "next": "/staff/groups"})
    assert wrong.status_code == 422
    assert factor_row(app, staff.id).confirmed_at is None

    done = post(c, "/staff/factor/enrol", {"code": pyotp.TOTP(secret).now(),
                                            "next": "/staff/groups"})
    assert done.status_code == 200
    codes = RECOVERY_RE.findall(text(done))
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert 'href="/staff/groups"' in text(done)
    assert c.get("/staff/groups").status_code == 200
    row = factor_row(app, staff.id)
    assert row.confirmed_at is not None
    assert secret not in row.secret_sealed  # kept sealed, never in clear
    with app.app_context():
        hashes = list(db.session.scalars(select(StaffRecoveryCode.code_hash).where(
            StaffRecoveryCode.user_id == staff.id)))
    assert len(hashes) == 10
    assert not {c.replace("-", "") for c in codes} & set(hashes)
    assert [e.actor_id for e in audits(app, "staff.mfa_enrolled")] == [staff.id]
    # Enrolled: the enrolment page does not show a secret again.
    assert c.get("/staff/factor/enrol").status_code == 303


def test_a_non_staff_user_never_reaches_the_factor_pages(app, login):
    c = login(new_person(app))
    assert c.get("/staff/factor").status_code == 403
    assert c.get("/staff/factor/enrol").status_code == 403
    assert post(c, "/staff/factor/enrol", {"code": "123456"}).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffFactor)) == 0


# --- the code step ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/staff/", "/staff/groups", "/staff/queue", "/staff/codes",
                                  "/staff/factor/recovery-codes"])
def test_every_staff_page_waits_for_the_second_step(app, path):
    staff = new_person(app, is_staff=True)
    c = signed_in(app, staff)
    answer = c.get(path)
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/staff/factor?next=")
    assert code_step(c, totp_now()).status_code == 303
    assert c.get(path).status_code == 200


def test_an_action_posted_before_the_second_step_does_nothing(app):
    staff = new_person(app, is_staff=True)
    user = new_person(app)
    c = signed_in(app, staff)
    answer = post(c, f"/staff/users/{user.id}/suspend", {"reason": "r", "code": totp_now()})
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/staff/factor")
    assert is_active(app, user.id)


def test_staff_sight_outside_the_staff_area_waits_for_the_second_step_too(app):
    staff = new_person(app, is_staff=True)
    with app.app_context():
        group_id = make_group().id
        db.session.commit()
    c = signed_in(app, staff)
    assert c.get(f"/family/{group_id}").status_code == 404  # an ordinary user here
    assert code_step(c, totp_now()).status_code == 303
    # Staff now: sent to the family's staff review, which asks why first.
    answer = c.get(f"/family/{group_id}")
    assert answer.status_code in (302, 303)
    assert answer.headers["Location"].endswith(f"/staff/groups/{group_id}")


def test_the_next_page_is_only_a_staff_page(app):
    staff = new_person(app, is_staff=True)
    c = signed_in(app, staff)
    answer = post(c, "/staff/factor", {"code": totp_now(), "next": "https://evil.example/x"})
    assert answer.headers["Location"] == "/staff/"


def test_a_wrong_code_is_refused_and_counted_then_the_step_locks(app):
    staff = new_person(app, is_staff=True)
    c = signed_in(app, staff)
    wrong = code_step(c, "000000" if totp_now() != "000000" else "111111")
    assert wrong.status_code == 422
    assert "This code is not right" in " ".join(errors(wrong))
    assert factor_row(app, staff.id).failures == 1
    for _try in range(4):
        assert code_step(c, "12345").status_code == 422  # not even six digits
    locked = code_step(c, totp_now())  # right, but too many failed
    assert locked.status_code == 429
    assert "Too many attempts" in text(locked)
    assert c.get("/staff/").status_code == 303
    assert len(audits(app, "staff.mfa_failed")) == 5


def test_a_replayed_code_is_refused_inside_its_window(app):
    staff = new_person(app, is_staff=True)
    user = new_person(app)
    step = step_now()
    c = signed_in(app, staff)
    assert code_step(c, code_at(step)).status_code == 303
    assert factor_row(app, staff.id).last_step == step
    # The same code again, for an action in the same 30 s: refused, nothing done.
    again = post(c, f"/staff/users/{user.id}/suspend", {"reason": "r", "code": code_at(step)})
    assert again.status_code == 422
    assert "was used already" in text(again)
    assert is_active(app, user.id)
    # And for a second session's code step.
    other = signed_in(app, staff)
    assert code_step(other, code_at(step)).status_code == 422
    assert other.get("/staff/").status_code == 303
    # The code of an earlier step is no better.
    assert code_step(other, code_at(step - 1)).status_code == 422
    # The next step's code (a phone 30 s ahead) works once.
    assert post(c, f"/staff/users/{user.id}/suspend",
                {"reason": "r", "code": code_at(step + 1)}).status_code == 303
    assert not is_active(app, user.id)


def test_a_recovery_code_works_once(app):
    staff = new_person(app, is_staff=True, enrolled=False)
    c = signed_in(app, staff)
    page = text(c.get("/staff/factor/enrol"))
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    codes = RECOVERY_RE.findall(text(post(c, "/staff/factor/enrol",
                                          {"code": pyotp.TOTP(secret).now()})))
    first = signed_in(app, staff)
    assert code_step(first, codes[0].lower()).status_code == 303  # however typed
    assert first.get("/staff/").status_code == 200
    second = signed_in(app, staff)
    assert code_step(second, codes[0]).status_code == 422
    assert second.get("/staff/").status_code == 303
    assert code_step(second, codes[1].replace("-", "")).status_code == 303
    events = audits(app, "staff.mfa_passed")
    assert [e.details["method"] for e in events] == ["recovery", "recovery"]
    assert events[-1].details["recovery_codes_left"] == 8


def test_new_recovery_codes_need_an_app_code_and_end_the_old_ones(app, login):
    staff = new_person(app, is_staff=True)
    c = login(staff)
    assert "0 unused" in text(c.get("/staff/factor/recovery-codes"))
    refused = post(c, "/staff/factor/recovery-codes", {"code": "ABCDE-FGHJK"})
    assert refused.status_code == 422
    first = RECOVERY_RE.findall(text(staff_post(c, "/staff/factor/recovery-codes")))
    second = RECOVERY_RE.findall(text(staff_post(c, "/staff/factor/recovery-codes")))
    assert len(first) == len(second) == 10
    assert not set(first) & set(second)
    other = signed_in(app, staff)
    assert code_step(other, first[0]).status_code == 422
    assert code_step(other, second[0]).status_code == 303


# --- the fresh code of every action -----------------------------------------------------


@pytest.mark.parametrize("code", ["", "999999x", "ABCDE-FGHJK"])
def test_a_suspension_needs_a_fresh_code(app, login, code):
    staff = new_person(app, is_staff=True)
    user = new_person(app)
    c = login(staff)
    answer = post(c, f"/staff/users/{user.id}/suspend", {"reason": "mất máy", "code": code})
    assert answer.status_code == 422
    assert is_active(app, user.id)
    assert audits(app, "staff.account_suspended") == []
    assert staff_post(c, f"/staff/users/{user.id}/suspend",
                      {"reason": "mất máy"}).status_code == 303
    assert not is_active(app, user.id)


def test_a_refused_action_gives_its_code_back(app, login):
    """A right code on an action refused for another reason (no reason given) is undone
    with it: the same code works on the corrected form."""
    staff = new_person(app, is_staff=True)
    user = new_person(app)
    c = login(staff)
    with app.app_context():
        code = authenticator_code(staff.id)
    assert post(c, f"/staff/users/{user.id}/suspend", {"reason": "", "code": code}) \
        .status_code == 422
    assert post(c, f"/staff/users/{user.id}/suspend", {"reason": "mất máy", "code": code}) \
        .status_code == 303


def test_activation_codes_need_a_fresh_code(app, login):
    staff = new_person(app, is_staff=True)
    c = login(staff)
    data = {"plan": "family", "days": "30", "count": "1", "reason": "khuyến mãi"}
    assert post(c, "/staff/codes", {**data, "code": ""}).status_code == 422
    assert audits(app, "billing.codes_issued") == []
    assert staff_post(c, "/staff/codes", data).status_code == 200
    assert len(audits(app, "billing.codes_issued")) == 1


# --- the API ----------------------------------------------------------------------------


def token_of(app, staff, **extra) -> tuple[int, dict]:
    answer = app.test_client().post("/api/v1/auth/token", json={
        "login": staff.phone, "password": "matkhau-2026", **extra})
    return answer.status_code, answer.get_json()


def bearer(app, token: str, method: str = "GET", path: str = "/api/v1/staff/users?q=09",
           json=None):
    return app.test_client().open(path, method=method, json=json,
                                  headers={"Authorization": f"Bearer {token}"})


def test_a_token_from_the_password_alone_does_not_reach_staff_routes(app):
    staff = new_person(app, is_staff=True)
    status, body = token_of(app, staff)
    assert status == 201
    refused = bearer(app, body["token"])
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "mfa_required"
    listed = bearer(app, body["token"], path="/api/v1/families")
    assert listed.status_code == 401
    assert listed.get_json()["error"]["code"] == "mfa_required"
    assert bearer(app, body["token"], path="/api/v1/me").status_code == 200


def test_a_token_issued_with_a_code_reaches_staff_routes(app):
    staff = new_person(app, is_staff=True)
    status, body = token_of(app, staff, totp=totp_now())
    assert status == 201
    assert bearer(app, body["token"]).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(ApiToken.mfa_at)) is not None


def test_a_wrong_or_replayed_code_issues_no_token(app):
    staff = new_person(app, is_staff=True)
    step = step_now()
    status, body = token_of(app, staff, totp=code_at(step))
    assert status == 201
    status, body = token_of(app, staff, totp=code_at(step))
    assert (status, body["error"]["code"]) == (401, "code_reused")
    status, body = token_of(app, staff, totp="000000" if code_at(step + 1) != "000000"
                            else "111111")
    assert (status, body["error"]["code"]) == (401, "invalid_code")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 1


def test_a_staff_action_by_api_needs_a_fresh_code(app):
    staff = new_person(app, is_staff=True)
    user = new_person(app)
    _status, body = token_of(app, staff, totp=totp_now())
    path = f"/api/v1/staff/users/{user.id}/suspend"
    refused = bearer(app, body["token"], "POST", path, json={"reason": "mất máy"})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "invalid_code"
    assert is_active(app, user.id)
    with app.app_context():
        code = authenticator_code(staff.id)
    done = bearer(app, body["token"], "POST", path, json={"reason": "mất máy", "totp": code})
    assert done.status_code == 200
    assert not is_active(app, user.id)


def test_the_session_api_waits_for_the_code_step_too(app):
    staff = new_person(app, is_staff=True)
    c = signed_in(app, staff)
    refused = c.get("/api/v1/staff/users?q=09")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "mfa_required"
    assert code_step(c, totp_now()).status_code == 303
    assert c.get("/api/v1/staff/users?q=09").status_code == 200


def test_create_staff_then_a_password_token_is_told_mfa_required(app):
    """The issue's own check: flask create-staff, a token with the password alone,
    /api/v1/staff/users → 401 mfa_required."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=[
            "create-staff", "0987 111 222", "--name", "Nhân Viên", "--password",
            "Ngựa-vằn-ăn-cỏ-2026"])
    assert result.exit_code == 0, result.output
    answer = app.test_client().post("/api/v1/auth/token", json={
        "login": "0987111222", "password": "Ngựa-vằn-ăn-cỏ-2026"})
    assert answer.status_code == 201
    refused = bearer(app, answer.get_json()["token"])
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "mfa_required"


# --- the session's limits ---------------------------------------------------------------


def age(c, **seconds_ago) -> None:
    with c.session_transaction() as session:
        for key, seconds in seconds_ago.items():
            session[key] = session[key] - seconds


def test_an_idle_staff_session_ends_past_its_limit(app, login):
    staff = new_person(app, is_staff=True)
    c = login(staff)
    age(c, seen_at=14 * 60)
    assert c.get("/staff/").status_code == 200  # 14 minutes: still there, and seen now
    age(c, seen_at=15 * 60 + 1)
    answer = c.get("/staff/")
    assert answer.status_code == 302
    assert "/account/login" in answer.headers["Location"]
    assert any("15 minutes without activity" in m for m in flashes(c))
    assert c.get("/account/settings").status_code == 302  # logged out everywhere
    assert c.get("/api/v1/me").status_code == 401


def test_the_idle_limit_is_configurable(app, login):
    app.config["STAFF_IDLE_MINUTES"] = 2
    staff = new_person(app, is_staff=True)
    c = login(staff)
    age(c, seen_at=2 * 60 + 1)
    assert c.get("/staff/").status_code == 302


def test_a_staff_session_ends_at_its_absolute_limit_however_busy(app, login):
    staff = new_person(app, is_staff=True)
    c = login(staff)
    age(c, login_at=8 * 3600 - 60)
    assert c.get("/staff/").status_code == 200
    age(c, login_at=61)
    answer = c.get("/account/settings")
    assert answer.status_code == 302
    assert any("at most 8 hours" in m for m in flashes(c))


def test_an_ordinary_session_has_no_staff_limits(app, login):
    user = new_person(app)
    c = login(user)
    with c.session_transaction() as session:
        assert "seen_at" not in session
        session["login_at"] -= 24 * 3600
    assert c.get("/account/settings").status_code == 200


# --- the reset command ------------------------------------------------------------------


def test_staff_mfa_reset_needs_a_reason_and_ends_sessions_and_tokens(app, login):
    staff = new_person(app, is_staff=True)
    c = login(staff)
    _status, body = token_of(app, staff, totp=code_at(step_now() + 1))
    runner = app.test_cli_runner()
    with app.app_context():
        no_reason = runner.invoke(args=["staff-mfa-reset", staff.phone, "--reason", " "])
    assert no_reason.exit_code != 0
    assert factor_row(app, staff.id) is not None
    assert audits(app, "staff.mfa_reset") == []

    with app.app_context():
        done = runner.invoke(args=["staff-mfa-reset", staff.phone, "--reason",
                                   "Mất điện thoại, phiếu #4411"])
    assert done.exit_code == 0, done.output
    assert factor_row(app, staff.id) is None
    (event,) = audits(app, "staff.mfa_reset")
    assert event.subject_id == staff.id
    assert event.details["reason"] == "Mất điện thoại, phiếu #4411"
    assert c.get("/staff/").status_code == 302  # the session ended
    assert bearer(app, body["token"]).status_code == 401
    again = signed_in(app, staff)
    assert again.get("/staff/").headers["Location"].startswith("/staff/factor/enrol")


def test_staff_mfa_reset_refuses_an_account_that_is_not_staff(app):
    user = new_person(app)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["staff-mfa-reset", user.phone,
                                                    "--reason", "x"])
    assert result.exit_code != 0
    assert "không phải nhân viên" in result.output  # the command speaks the default language
    assert audits(app, "staff.mfa_reset") == []


def test_the_code_step_is_in_both_languages(app):
    staff = new_person(app, is_staff=True, locale="vi")
    c = signed_in(app, staff)
    page = text(c.get("/staff/factor"))
    assert "<h1>Bước thứ hai</h1>" in page
    wrong = code_step(c, "12345")
    assert "Mã này không đúng" in text(wrong)
    post(c, "/language", {"locale": "en"})
    assert "<h1>Second step</h1>" in text(c.get("/staff/factor"))


def test_the_audit_export_needs_a_fresh_code(app, login):
    staff = new_person(app, is_staff=True)
    with app.app_context():
        group_id = make_group().id
        db.session.commit()
    c = login(staff)
    url = f"/staff/groups/{group_id}/audit.csv"
    refused = post(c, url, {"reason": "legal", "reason_text": "", "code": "000000"})
    assert refused.status_code == 422
    assert refused.mimetype == "text/html"
    assert audits(app, "staff.audit_exported") == []
    done = staff_post(c, url, {"reason": "legal", "reason_text": ""})
    assert done.status_code == 200
    assert done.mimetype == "text/csv"
    assert len(audits(app, "staff.audit_exported")) == 1
