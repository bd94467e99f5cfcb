"""One commit per request (app/transaction.py): a success commits once, a refusal (4xx, or a
DomainError however it is answered) and an exception leave nothing written, a refusal
that must keep its record keeps it, and a commit that fails never shows a success. Views
and API routes never commit themselves."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import flash, redirect
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from app.accounts.services import api_token_create
from app.audit.services import audit_record
from app.errors import Conflict
from app.extensions import csrf, db
from app.models.accounts import PhoneCode
from app.models.audit import AuditEvent
from app.transaction import after_commit, attempt, committed
from tests.conftest import listening, make_app
from tests.factories import make_group, make_user
from tests.pages import csrf_from

ROOT = Path(__file__).resolve().parents[2]


def audits(app, action: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == action))


def _write_then_refuse(**_kwargs):
    """A service that records something, then refuses."""
    audit_record(actor=None, action="test.refused")
    db.session.flush()
    raise Conflict("No.", code="test_refused")


@pytest.fixture
def commits():
    """COMMITs any engine runs inside `with commits() as seen:` (len(seen))."""

    @contextmanager
    def counting():
        seen: list[int] = []
        with listening(Engine, "commit", lambda _conn: seen.append(1)):
            yield seen

    return counting


@pytest.fixture
def probe(app):
    """A second app on the suite's database with routes of its own (the session app takes
    no new routes once it served a request)."""
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"])

    def route(path, view):
        other.add_url_rule(path, view.__name__, csrf.exempt(view), methods=["POST"])

    def written():
        audit_record(actor=None, action="test.written")
        return "written"

    def written_then_422():
        audit_record(actor=None, action="test.written")
        return "refused", 422

    def written_then_crash():
        audit_record(actor=None, action="test.written")
        db.session.flush()
        raise RuntimeError("boom")

    def refused_then_redirect():
        _result, error = attempt(_write_then_refuse)
        flash(error.message, "error")
        return redirect("/", code=303)

    def refusal_raised():
        _write_then_refuse()

    def commit_fails():
        db.session.add(AuditEvent(action=None))  # NOT NULL: fails at the commit's flush
        flash("Saved.", "success")
        return "saved"

    def commit_fails_deferred():
        db.session.add(AuditEvent(action=None))
        return after_commit(lambda: "saved")

    def shown_after_commit():
        event_ = audit_record(actor=None, action="test.written")
        db.session.flush()
        # Asked first: whether a transaction is open when the answer is made (none is).
        return after_commit(lambda: f"{db.session().in_transaction()} {event_.action}")

    def saved_then_answer_fails():
        audit_record(actor=None, action="test.written")
        flash("Saved.", "success")

        def make():
            raise RuntimeError("the template broke")
        return after_commit(make)

    for view in (written, written_then_422, written_then_crash, refused_then_redirect,
                 refusal_raised, commit_fails, commit_fails_deferred, shown_after_commit,
                 saved_then_answer_fails):
        route(f"/probe/{view.__name__}", view)
    return other


# --- the boundary ------------------------------------------------------------------------


def test_a_success_commits_exactly_once(app, probe, commits):
    with commits() as seen:
        response = probe.test_client().post("/probe/written")
    assert response.status_code == 200
    assert len(seen) == 1
    assert audits(app, "test.written") == 1


def test_a_4xx_answer_leaves_nothing_written(app, probe, commits):
    with commits() as seen:
        assert probe.test_client().post("/probe/written_then_422").status_code == 422
    assert seen == []
    assert audits(app, "test.written") == 0


def test_an_exception_rolls_back(app, probe, commits):
    with commits() as seen:
        assert probe.test_client().post("/probe/written_then_crash").status_code == 500
    assert seen == []
    assert audits(app, "test.written") == 0


def test_a_refusal_answered_with_a_redirect_leaves_nothing_written(app, probe):
    # A 303 is not a 4xx: attempt() undid the refused service's writes at once.
    assert probe.test_client().post("/probe/refused_then_redirect").status_code == 303
    assert audits(app, "test.refused") == 0


def test_a_refusal_raised_leaves_nothing_written(app, probe):
    assert probe.test_client().post("/probe/refusal_raised").status_code == 409
    assert audits(app, "test.refused") == 0


@pytest.mark.parametrize("path", ["/probe/commit_fails", "/probe/commit_fails_deferred"])
def test_a_failed_commit_shows_no_success(app, probe, path):
    client = probe.test_client()
    response = client.post(path)
    assert response.status_code == 409  # the IntegrityError, answered as a Conflict
    assert "saved" not in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert "_flashes" not in session  # the success's flash went with it
    with probe.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_an_answer_after_commit_is_made_once_committed(app, probe):
    response = probe.test_client().post("/probe/shown_after_commit")
    assert response.get_data(as_text=True) == "False test.written"
    assert audits(app, "test.written") == 1


def test_an_answer_that_fails_after_the_commit_says_the_change_was_saved(app, probe):
    """The error page after a commit must not say "Nothing was saved": it was, and the
    session that goes with it stays (its flash is shown on that page)."""
    client = probe.test_client()
    response = client.post("/probe/saved_then_answer_fails")
    assert response.status_code == 500
    page = response.get_data(as_text=True)  # in Vietnamese, the default language
    assert "Thay đổi của bạn đã được lưu, nhưng không hiển thị được trang." in page
    assert "Chưa có gì được lưu" not in page
    assert "Saved." in page
    assert audits(app, "test.written") == 1


def test_committed_commits_a_block_and_rolls_back_a_failed_one(app):
    with app.app_context():
        with committed():
            audit_record(actor=None, action="test.written")

        def fails():
            with committed():
                audit_record(actor=None, action="test.refused")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            fails()
    assert audits(app, "test.written") == 1
    assert audits(app, "test.refused") == 0


# --- the real pages and API --------------------------------------------------------------


@pytest.fixture
def family(app):
    with app.app_context():
        admin = make_user(name="Quản trị")
        group = make_group(admin)
        token = api_token_create(user=admin, name="script")
        db.session.commit()
        return admin.phone, group.id, token


def test_a_refused_page_post_leaves_nothing_written(app, login, family, monkeypatch):
    monkeypatch.setattr("app.membership.views.group_rename", _write_then_refuse)
    phone, group_id, _token = family
    c = login(type("Who", (), {"phone": phone}))
    page = c.get(f"/family/{group_id}").get_data(as_text=True)
    response = c.post(f"/family/{group_id}/rename",
                      data={"name": "Tên mới", "csrf_token": csrf_from(page)})
    assert response.status_code == 303  # the refusal's flash and the page
    assert audits(app, "test.refused") == 0


def test_a_refused_api_call_leaves_nothing_written(app, client, family, monkeypatch):
    monkeypatch.setattr("app.api.routes_families.group_rename", _write_then_refuse)
    _phone, group_id, token = family
    response = client.patch(f"/api/v1/families/{group_id}", json={"name": "Tên mới"},
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "test_refused"
    assert audits(app, "test.refused") == 0


def test_a_success_on_a_page_commits_once(app, login, family, commits):
    phone, _group_id, _token = family
    c = login(type("Who", (), {"phone": phone}))
    token = csrf_from(c.get("/").get_data(as_text=True))
    with commits() as seen:
        response = c.post("/language", data={"locale": "en", "csrf_token": token})
    assert response.status_code == 303
    assert len(seen) == 1


def test_a_wrong_codes_counted_try_is_kept(app, client):
    phone = "0912345670"
    assert client.post("/api/v1/auth/register", json={
        "phone": phone, "password": "hoa sen nở sớm 2026", "name": "Lan",
        "gender": "female"}).status_code == 202
    response = client.post("/api/v1/auth/register/verify",
                           json={"phone": phone, "code": "000000"})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "invalid_code"
    with app.app_context():
        assert db.session.scalar(select(PhoneCode.attempts)) == 1


def test_a_failed_logins_audit_event_is_kept(app, client, family):
    phone, _group_id, _token = family
    response = client.post("/api/v1/auth/token", json={"login": phone, "password": "wrong"})
    assert response.status_code == 401
    assert audits(app, "account.login_failed") == 1


# --- no view commits ----------------------------------------------------------------------


def _route_modules() -> list[Path]:
    app_dir = ROOT / "app"
    found = {*app_dir.glob("**/views*.py"), *app_dir.glob("**/*_views.py"),
             *app_dir.glob("api/*.py"), app_dir / "core.py", app_dir / "pages.py"}
    return sorted(found)


def test_no_view_or_route_module_commits():
    modules = _route_modules()
    assert len(modules) > 20
    committing = [f"{path.relative_to(ROOT)}:{n}" for path in modules
                  for n, line in enumerate(path.read_text().splitlines(), 1)
                  if re.search(r"\.commit\(", line)]
    assert committing == []
