"""Structured logs and the request id (issue 20, item 3).

JSON lines on the root handler that create_app installs (LOG_FORMAT=json), each with its
request id; X-Request-ID on every answer, taken from a trusted proxy only and only when
well-formed; the id kept on the outbox rows and on the worker's lines for them; link
tokens and personal query parameters redacted in request lines; and no phone number,
e-mail address or name in any record at INFO or above through a broad flow.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app.extensions import db
from app.models.accounts import User
from app.models.notifications import InviteNotification
from app.observability import (
    GUNICORN_ACCESS_FORMAT,
    JsonLines,
    RequestIdFilter,
    gunicorn_logconfig_dict,
)
from app.outbox.delivery import deliver_due
from tests.conftest import log_in, make_app, migrated_app, sign_in
from tests.factories import make_subscription, make_user, national, next_phone
from tests.pages import csrf_from, csrf_of, text
from tests.sms import texted_code

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def bare_root():
    """bare_root(): the root logger as gunicorn or `flask run` leave it (no handler) from
    now on in the test (pytest's own capturing handlers dropped), so that create_app adds
    its handler, which writes to sys.stderr (capsys's, here). Removed after the test."""
    root = logging.getLogger()

    def clear():
        root.handlers.clear()

    yield clear
    for handler in root.handlers[:]:
        if getattr(handler, "fc_handler", False):
            root.removeHandler(handler)


def json_lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def app_with_probe_routes(database_url: str, bare_root, **config):
    bare_root()
    app = make_app(database_url, LOG_FORMAT="json", **config)

    def said():
        logging.getLogger("app.probe").info("probe says %s", "hello")
        return "ok"

    def broke():
        raise RuntimeError("the probe broke")

    app.add_url_rule("/_probe/said", "probe_said", said)
    app.add_url_rule("/_probe/broke", "probe_broke", broke)
    return app


# --- JSON lines, with the request id ------------------------------------------------------


def test_create_app_writes_json_lines_with_the_request_id(bare_root, capsys,
                                                          fresh_database_url):
    app = app_with_probe_routes(fresh_database_url(), bare_root)
    client = app.test_client()
    capsys.readouterr()

    response = client.get("/_probe/said")

    request_id = response.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(request_id)
    (line,) = [e for e in json_lines(capsys.readouterr().err) if e["logger"] == "app.probe"]
    assert line["message"] == "probe says hello"
    assert line["level"] == "INFO"
    assert line["request_id"] == request_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert "exception" not in line


def test_an_error_is_one_json_line_with_its_exception_and_the_500_names_its_id(
        bare_root, capsys, fresh_database_url):
    app = app_with_probe_routes(fresh_database_url(), bare_root)
    capsys.readouterr()

    response = app.test_client().get("/_probe/broke")

    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    err = capsys.readouterr().err
    lines = json_lines(err)  # every line is one JSON object: a traceback is inside one
    (line,) = [e for e in lines if e["level"] == "ERROR"]
    assert line["request_id"] == request_id
    assert "RuntimeError: the probe broke" in line["exception"]
    assert "Traceback" in line["exception"]


def test_text_is_the_default_outside_production(bare_root, capsys, fresh_database_url):
    bare_root()
    app = make_app(fresh_database_url())
    assert app.config["LOG_FORMAT"] == "text"
    logging.getLogger("app.probe").warning("plain words")
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "plain words" in x]
    assert re.fullmatch(r"\S+Z WARNING app\.probe \[-\] plain words", line)


def test_json_is_the_default_in_production_and_a_bad_format_is_refused(fresh_database_url,
                                                                       monkeypatch):
    from app.config import ConfigError

    app = make_app(fresh_database_url(), APP_ENV="production")
    assert app.config["LOG_FORMAT"] == "json"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LOG_FORMAT must be json or text"):
        make_app(fresh_database_url())


# --- X-Request-ID ---------------------------------------------------------------------------


def test_every_answer_carries_a_new_id_and_a_clients_own_is_ignored(client):
    ids = set()
    for path, status in (("/account/login", 200), ("/no-such-page", 404),
                         ("/healthz", 200)):
        response = client.get(path, headers={"X-Request-ID": "chosen-by-client"})
        assert response.status_code == status
        assert HEX_ID.fullmatch(response.headers["X-Request-ID"])
        ids.add(response.headers["X-Request-ID"])
    # A refusal made before any view (CSRF) carries one too.
    refused = client.post("/language", data={"locale": "en"})
    assert refused.status_code == 400
    ids.add(refused.headers["X-Request-ID"])
    assert len(ids) == 4
    assert len(refused.headers.getlist("X-Request-ID")) == 1


@pytest.mark.parametrize("config", [{"PROXY_FIX_HOPS": 1}, {"TRUST_REQUEST_ID": True}])
def test_a_trusted_proxys_well_formed_id_is_kept(fresh_database_url, config):
    client = make_app(fresh_database_url(), **config).test_client()
    given = "lb-7f3a.2026:01_x"
    assert client.get("/healthz", headers={"X-Request-ID": given}
                      ).headers["X-Request-ID"] == given


@pytest.mark.parametrize("given", ["", "a" * 129, "bad id", 'x"y', "a\tb",
                                   "id;drop", "ñ"])
def test_a_malformed_id_is_replaced_even_from_a_trusted_proxy(fresh_database_url, given):
    client = make_app(fresh_database_url(), TRUST_REQUEST_ID=True).test_client()
    answered = client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert HEX_ID.fullmatch(answered)


def test_proxy_fix_hops_trusts_unless_told_otherwise(fresh_database_url):
    client = make_app(fresh_database_url(), PROXY_FIX_HOPS=1,
                      TRUST_REQUEST_ID=False).test_client()
    assert client.get("/healthz", headers={"X-Request-ID": "from-proxy"}
                      ).headers["X-Request-ID"] != "from-proxy"


# --- the outbox row and the worker ----------------------------------------------------------


def test_the_outbox_row_and_the_workers_lines_carry_the_requests_id(
        app, configure, caplog):
    configure()  # no gateway: the log channel
    with app.app_context():
        admin = make_user(name="Quản Trị", locale="en")
        make_subscription(admin)
        db.session.commit()
        admin_phone = admin.phone
    c = app.test_client()
    assert sign_in(c, national(admin_phone)).status_code == 303
    created = c.post("/family", data={"name": "Nhà Lê", "csrf_token": csrf_of(c)})
    group_id = int(created.headers["Location"].rsplit("/", 1)[1])
    made = c.post(f"/family/{group_id}/invites", data={
        "phone": national(next_phone()), "role": "caregiver", "csrf_token": csrf_of(c)})
    assert made.status_code == 201
    request_id = made.headers["X-Request-ID"]
    with app.app_context():
        sms = db.session.scalar(select(InviteNotification).where(
            InviteNotification.notification_type == "INVITE_CREATED",
            InviteNotification.channel == "sms"))
        assert sms.request_id == request_id
        sms_id = sms.id

    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    with app.app_context():
        assert deliver_due()["sent"] >= 1
        db.session.remove()
    sent = [r for r in caplog.records if r.getMessage().endswith(
        f"notification {sms_id} (sms, INVITE_CREATED) sent")]
    assert len(sent) == 1
    assert sent[0].request_id == request_id
    # Outside the message, the worker's context is its own again.
    logging.getLogger("app.probe").info("after")
    assert not hasattr(caplog.records[-1], "request_id")


def test_outbox_rows_written_outside_a_request_have_no_id(app_ctx):
    from app.notifications.services import notify_phone

    notify_phone(phone=next_phone(), notification_type="INVITE_CREATED", payload={})
    db.session.flush()
    assert db.session.scalar(select(InviteNotification.request_id)) is None


# --- request lines: tokens and personal parameters redacted, in JSON ------------------------


@pytest.fixture
def serve(bare_root, fresh_database_url):
    """serve(): the app on a real werkzeug server on 127.0.0.1 (its request lines are what
    an access log writes), with JSON logs on a bare root; its address."""
    servers = []

    def start() -> str:
        bare_root()
        app = migrated_app(fresh_database_url(), LOG_FORMAT="json")
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        logging.getLogger("werkzeug").setLevel(logging.INFO)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join()


def test_request_lines_are_redacted_in_json(serve, capsys):
    served = serve()
    token = "Zk3q-secret-token_abcdefghijklmnopqrstuv"
    phone = "+84912345678"
    httpx.get(f"{served}/i/{token}")
    httpx.get(f"{served}/staff/", params={"q": phone})
    httpx.get(f"{served}/staff/groups", params={"q": "lan@example.com"})
    # a staff member's reason may name someone (issue 21)
    httpx.get(f"{served}/api/v1/staff/users/1",
              params={"reason": "other", "reasonText": "Zhoa asked"})
    err = capsys.readouterr().err
    lines = [e for e in json_lines(err) if e["logger"] == "werkzeug"]
    assert len(lines) == 4
    assert "GET /i/[redacted] HTTP/1.1" in lines[0]["message"]
    assert "GET /staff/?q=[redacted] HTTP/1.1" in lines[1]["message"]
    assert "GET /staff/groups?q=[redacted] HTTP/1.1" in lines[2]["message"]
    assert ("GET /api/v1/staff/users/1?reason=other&reasonText=[redacted] HTTP/1.1"
            in lines[3]["message"])
    for forbidden in (token, "912345678", "lan@example.com", "lan%40example.com", "Zhoa"):
        assert forbidden not in err


# --- gunicorn's own logs ------------------------------------------------------------------


def test_gunicorn_logconfig_makes_json_access_lines_with_the_request_id(capsys):
    import logging.config

    logging.config.dictConfig(gunicorn_logconfig_dict("json"))
    access = logging.getLogger("gunicorn.access")
    try:
        atoms = {"h": "10.0.0.1", "l": "-", "u": "-", "t": "[01/Jan/2026:00:00:00 +0000]",
                 "r": "GET /i/tok3n-value?q=0912345678 HTTP/1.1", "s": "200", "b": "12",
                 "f": "-", "a": "curl", "{x-request-id}o": "abc123"}
        access.info(GUNICORN_ACCESS_FORMAT, atoms)
        (line,) = json_lines(capsys.readouterr().out)
    finally:
        for handler in access.handlers[:]:
            access.removeHandler(handler)
        for handler in logging.getLogger("gunicorn.error").handlers[:]:
            logging.getLogger("gunicorn.error").removeHandler(handler)
    assert line["request_id"] == "abc123"
    assert line["logger"] == "gunicorn.access"
    assert '"GET /i/[redacted]?q=[redacted] HTTP/1.1" 200 12' in line["message"]
    assert "tok3n" not in json.dumps(line)


def test_gunicorn_started_with_the_portals_settings_writes_json_access_lines(
        tmp_path, fresh_database_url):
    """The real thing: gunicorn from the checkout (./gunicorn.conf.py, the package's
    settings) in production, where LOG_FORMAT defaults to JSON."""
    import sys

    from bench.load_bench import serving
    from tests.core.test_shared_limits import ROOT, server_env
    from tests.ports import free_port

    url = fresh_database_url()
    migrated_app(url)
    port = free_port()
    env = server_env(tmp_path, port, url, LOG_LEVEL="INFO")
    del env["LOG_FORMAT"]  # production's default
    log = tmp_path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind",
               f"127.0.0.1:{port}", "--access-logfile", "-", "--chdir", str(ROOT), "wsgi:app"]
    with serving(command, env=env, port=port, log=log):
        answer = httpx.get(f"http://127.0.0.1:{port}/i/s3cret-tok3n?phone=0912345678")
    lines = json_lines(log.read_text())
    (access,) = [line for line in lines if line["logger"] == "gunicorn.access"
                 and "/i/" in line["message"]]
    assert access["request_id"] == answer.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(access["request_id"])
    assert "/i/[redacted]?phone=[redacted]" in access["message"]
    assert {"time", "level", "logger", "message"} <= set(access)
    assert any(line["logger"] == "gunicorn.error" for line in lines)  # gunicorn's own, too
    assert "s3cret" not in log.read_text()
    assert "912345678" not in log.read_text()


# --- no phone number, address or name at INFO -------------------------------------------


def test_no_phone_email_or_name_in_any_record_at_info_through_a_broad_flow(
        app, use_gateway, configure, caplog):
    caplog.set_level(logging.INFO)
    caplog.handler.setFormatter(JsonLines())
    caplog.handler.addFilter(RequestIdFilter())
    admin_phone, invitee_phone, staff_phone = next_phone(), next_phone(), next_phone()
    people = {"admin": ("Lê Thị Hoa", "hoa.le@example.com"),
              "invitee": ("Phạm Văn Minh", "minh.pham@example.com"),
              "staff": ("Đỗ Nhân Viên", "nv.do@example.com")}
    with app.app_context():
        make_user(phone=staff_phone, name=people["staff"][0], email=people["staff"][1],
                  is_staff=True)
        db.session.commit()

    # Sign up with the SMS code (through the real gateway on 127.0.0.1).
    c = app.test_client()
    page = c.get("/account/register")
    assert c.post("/account/register", data={
        "phone": national(admin_phone), "name": people["admin"][0], "gender": "1",
        "email": people["admin"][1], "password": "hoa-sen-no-2026",
        "csrf_token": csrf_from(text(page))}).status_code == 303
    code = texted_code(app, use_gateway, admin_phone)
    verify = c.get("/account/register/verify")
    assert c.post("/account/register/verify", data={
        "phone": national(admin_phone), "code": code,
        "csrf_token": csrf_from(text(verify))}).status_code == 303
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.phone == admin_phone))
        make_subscription(admin)
        db.session.commit()

    # A family, an invite; from here on every message goes through the log channel.
    configure(SMS_GATEWAY_URL="")
    created = c.post("/family", data={"name": "Gia đình Lê", "csrf_token": csrf_of(c)})
    assert created.status_code == 303
    group_id = int(created.headers["Location"].rsplit("/", 1)[1])
    made = c.post(f"/family/{group_id}/invites", data={
        "phone": national(invitee_phone), "role": "caregiver", "csrf_token": csrf_of(c)})
    assert made.status_code == 201
    token = re.search(r"/i/([A-Za-z0-9_\-]+)", text(made)).group(1)
    with app.app_context():
        deliver_due()
        db.session.remove()

    # The invitee signs up from the link and accepts; the admin is told (email, the log).
    invitee = app.test_client()
    invitee.get(f"/i/{token}")
    assert invitee.post("/i/signup", data={
        "name": people["invitee"][0], "gender": "0", "email": people["invitee"][1],
        "password": "hoa-sen-no-2026", "csrf_token": csrf_of(invitee)}).status_code == 303
    resumed = invitee.get("/i/resume")
    assert invitee.post("/i/accept", data={
        "token": token, "csrf_token": csrf_from(text(resumed))}).status_code == 303
    with app.app_context():
        counts = deliver_due()
        db.session.remove()
    assert counts["sent"] >= 1

    # A failed login, and a staff search for the admin by phone and by address.
    stranger = app.test_client()
    assert sign_in(stranger, national(admin_phone), "not-the-password").status_code == 401
    staff = log_in(app, SimpleNamespace(phone=staff_phone))  # the second step passed too
    assert staff.get("/staff/", query_string={"q": national(admin_phone)}).status_code == 200
    assert staff.get("/staff/", query_string={"q": people["admin"][1]}).status_code == 200

    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    # The flow did log: the log channel's lines and the worker's.
    assert any("written to the log channel" in r.getMessage() for r in records)
    assert any(r.getMessage().endswith("sent") for r in records)
    forbidden = [p for n, e in people.values() for p in (n, e)]
    for phone in (admin_phone, invitee_phone, staff_phone):
        forbidden += [phone, national(phone), phone[1:], phone[3:]]
    for record in records:
        seen = "\n".join([caplog.handler.format(record), record.getMessage(),
                          repr(record.args), repr(record.msg)])
        for value in forbidden:
            assert value not in seen, (value, seen)



# --- a failed statement's text -------------------------------------------------------------


@pytest.mark.parametrize(("env", "shown"), [("production", False), ("test", True)])
def test_a_failed_statement_names_its_values_only_outside_production(fresh_database_url,
                                                                      env, shown):
    """A database error reaches an ERROR line with its text: in production, without the
    values bound to the statement (phone numbers, names). The test app shows that the
    text would carry them."""
    from sqlalchemy import text as sql
    from sqlalchemy.exc import DBAPIError

    app = make_app(fresh_database_url(), APP_ENV=env)
    with app.app_context():
        with pytest.raises(DBAPIError) as raised:
            db.session.execute(sql("SELECT name FROM no_such_table WHERE phone = :phone"),
                               {"phone": "+84912345678"})
        db.session.rollback()
    assert ("+84912345678" in str(raised.value)) is shown
