"""Cookie flags (issue 7, item 3): the portal sets one cookie, the session, and sets it
HttpOnly, SameSite=Lax, Secure outside development, under the name fc_session; no
remember-me cookie, and the language lives in the session rather than a cookie of its own.

The apps here are built with the configuration's own defaults for each APP_ENV (the
suite's make_app turns Secure off for its plain-HTTP client, so it is bypassed), on the
session app's database, and every request goes over HTTPS as a browser's would.
"""

from __future__ import annotations

import pytest

from app import create_app
from app.extensions import db
from tests.factories import PASSWORD
from tests.pages import csrf_of
from tests.security.conftest import World

HTTPS = "https://localhost"


def parse(header: str) -> tuple[str, dict[str, str]]:
    """One Set-Cookie header: (name, attributes with lower-case names)."""
    first, *rest = (part.strip() for part in header.split(";"))
    name = first.split("=", 1)[0]
    attributes = {}
    for part in rest:
        key, _sep, value = part.partition("=")
        attributes[key.lower()] = value
    return name, attributes


@pytest.fixture
def app_for(app, monkeypatch):
    """app_for(env): an app of that APP_ENV with the default cookie settings."""
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    made = []

    def build(env: str):
        built = create_app({"APP_ENV": env, "SECRET_KEY": "cookie-test-" + "k" * 40,
                            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                            "PUBLIC_BASE_URL": HTTPS, "WEB_CONCURRENCY": 1})
        made.append(built)
        return built

    yield build
    for built in made:
        with built.app_context():
            db.engine.dispose()


def every_cookie_of_a_visit(application, world: World) -> list[str]:
    """The Set-Cookie headers of a whole visit: an anonymous page, the language switch, an
    invite link, logging in from it, the pages, a wrong login, logging out."""
    client = application.test_client()
    seen: list[str] = []

    def go(method: str, path: str, **kwargs):
        # Over HTTPS, Flask-WTF also wants a same-origin Referer on a POST (a browser's).
        response = client.open(path, method=method, base_url=HTTPS,
                               headers={"Referer": HTTPS + "/"}, **kwargs)
        seen.extend(response.headers.getlist("Set-Cookie"))
        return response

    def token() -> str:
        return session_csrf_over_https(client)

    go("GET", "/")
    go("POST", "/language", data={"locale": "en", "csrf_token": token()})
    assert go("GET", f"/i/{world.invite_token}").status_code == 200
    assert go("POST", "/i/login", data={"login": world.phones["invitee"], "password": PASSWORD,
                                        "csrf_token": token()}).status_code == 303
    assert go("GET", "/i/resume").status_code == 200
    assert go("GET", "/family").status_code == 200
    go("POST", "/language", data={"locale": "vi", "csrf_token": token()})
    assert go("POST", "/account/logout", data={"csrf_token": token()}).status_code in (302, 303)
    go("POST", "/account/login", data={"login": world.phones["admin"], "password": "wrong-pass",
                                       "csrf_token": token()})
    assert go("POST", "/account/login", data={"login": world.phones["admin"],
                                              "password": PASSWORD, "csrf_token": token(),
                                              "remember": "y"}).status_code == 303
    go("GET", f"/family/{world.group_id}")
    return seen


def session_csrf_over_https(client) -> str:
    from tests.pages import csrf_from

    return csrf_from(client.get("/", base_url=HTTPS).get_data(as_text=True))


@pytest.mark.parametrize(("env", "secure"), [("test", True), ("production", True),
                                             ("development", False)])
def test_the_only_cookie_is_the_session_with_its_flags(app_for, world, env, secure):
    application = app_for(env)
    cookies = [parse(header) for header in every_cookie_of_a_visit(application, world)]
    assert cookies, "the visit set no cookie at all"
    assert {name for name, _attrs in cookies} == {"fc_session"}
    for _name, attributes in cookies:
        assert "httponly" in attributes
        assert attributes.get("samesite") == "Lax"
        assert ("secure" in attributes) is secure
        assert attributes.get("path") == "/"
        assert "domain" not in attributes  # host-only: no sibling domain receives it


def test_no_remember_me_and_a_bounded_session(app, world):
    """Even a form that asks to be remembered gets no long-lived cookie: the session ends
    with PERMANENT_SESSION_LIFETIME (SESSION_HOURS) or when the browser closes."""
    assert app.config["REMEMBER_COOKIE_DURATION"].total_seconds() == 0
    client = app.test_client()
    response = client.post("/account/login", data={
        "login": world.phones["admin"], "password": PASSWORD, "remember": "y",
        "csrf_token": csrf_of(client)})
    assert response.status_code == 303
    names = [parse(h)[0] for h in response.headers.getlist("Set-Cookie")]
    assert names == ["fc_session"]
    assert client.get_cookie("remember_token") is None


def test_the_session_cookie_cannot_be_forged(app, app_for, world):
    """Its value is signed with SECRET_KEY: changed by one character, or signed with another
    key, it is no session."""
    client = app.test_client()
    assert client.post("/account/login", data={
        "login": world.phones["admin"], "password": PASSWORD,
        "csrf_token": csrf_of(client)}).status_code == 303
    assert client.get("/account/settings").status_code == 200
    value = client.get_cookie("fc_session").value
    payload, _sep, signature = value.rpartition(".")
    # The first character: the last one of a base64 signature carries padding bits, and
    # some changes there decode to the same bytes: that forged cookie was a valid one in 7%
    # of runs (141 of 2,000 random signatures).
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    forged = app.test_client()
    forged.set_cookie("fc_session", f"{payload}.{flipped}")
    assert forged.get("/account/settings").status_code == 302
    elsewhere = app_for("test").test_client()  # the same database, another SECRET_KEY
    elsewhere.set_cookie("fc_session", value)
    assert elsewhere.get("/account/settings", base_url=HTTPS).status_code == 302
