"""Only the portal's own host names are served in production (issue 15, F9).

Redirects and any address built from the request use its Host header (or, behind
PROXY_FIX_HOPS, X-Forwarded-Host): `Host: evil.example` turned the HTTPS redirect into
`Location: https://evil.example/account/login`. Production now answers only the host of
PUBLIC_BASE_URL and the names TRUSTED_HOSTS adds (Flask's TRUSTED_HOSTS); any other is a
400 with the portal's error page or JSON, and no Location at all.
"""

from __future__ import annotations

import html
import re

import pytest
from flask_babel import force_locale, gettext

from app.config import ConfigError, load_config
from tests.conftest import make_app

PUBLIC = "https://family.example.vn"
EVIL = "evil.example"
UNDERSTOOD = "The request could not be understood."


@pytest.fixture
def production(app):
    return make_app(app.config["SQLALCHEMY_DATABASE_URI"], APP_ENV="production",
                    PUBLIC_BASE_URL=PUBLIC)


def lead(response) -> str:
    return html.unescape(re.search(r'<p class="lead">(.*?)</p>', response.get_data(as_text=True),
                                   re.S)[1])


def refused_without_redirect(response) -> None:
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert EVIL not in response.get_data(as_text=True)


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("path", ["/account/login", "/family", "/"])
def test_a_page_for_another_host_is_a_400_never_a_redirect_there(production, scheme, path):
    """Over HTTP the answer was the HTTPS redirect to that host; /family (login required)
    and / redirect to the login page."""
    response = production.test_client().get(path, base_url=f"{scheme}://{EVIL}")
    refused_without_redirect(response)
    # the portal's own error page, in the visitor's language (Vietnamese by default)
    with production.test_request_context(), force_locale("vi"):
        assert lead(response) == gettext(UNDERSTOOD) != UNDERSTOOD
    assert '<a href="/"' in response.get_data(as_text=True)  # its links are our own


def test_the_api_for_another_host_is_a_json_400(production):
    client = production.test_client()
    for method, path in (("GET", "/api/v1/me"), ("POST", "/api/v1/auth/token"),
                         ("GET", "/healthz")):
        response = client.open(path, method=method, base_url=f"https://{EVIL}",
                               json={"login": "0912345678", "password": "x"})
        refused_without_redirect(response)
        assert response.get_json()["error"]["code"] == "bad_request"


def test_the_public_host_is_served(production):
    client = production.test_client()
    response = client.get("/account/login", base_url="http://family.example.vn")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{PUBLIC}/account/login"
    assert client.get("/account/login", base_url=PUBLIC).status_code == 200
    assert client.get("/account/login", base_url=f"{PUBLIC}:8443").status_code == 200
    response = client.get("/family", base_url=PUBLIC)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")
    assert client.get("/healthz", base_url=PUBLIC).status_code == 200


def test_a_forwarded_host_through_the_proxy_is_checked_too(app, monkeypatch):
    behind = make_app(app.config["SQLALCHEMY_DATABASE_URI"], APP_ENV="production",
                      PUBLIC_BASE_URL=PUBLIC, PROXY_FIX_HOPS=1)
    client = behind.test_client()
    forwarded = {"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.9"}
    response = client.get("/account/login", base_url=PUBLIC,
                          headers={**forwarded, "X-Forwarded-Host": EVIL})
    refused_without_redirect(response)
    response = client.get("/account/login", base_url=PUBLIC,
                          headers={**forwarded, "X-Forwarded-Host": "family.example.vn"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"{PUBLIC}/account/login"


def test_trusted_hosts_adds_names_such_as_a_health_checks_address(app, monkeypatch):
    monkeypatch.setenv("TRUSTED_HOSTS", " 10.0.0.7 , LB.internal,")
    extra = make_app(app.config["SQLALCHEMY_DATABASE_URI"], APP_ENV="production",
                     PUBLIC_BASE_URL=PUBLIC)
    assert extra.config["TRUSTED_HOSTS"] == ["family.example.vn", "10.0.0.7", "lb.internal"]
    client = extra.test_client()
    assert client.get("/healthz", base_url="http://10.0.0.7:8000").status_code == 200
    assert client.get("/healthz", base_url="http://lb.internal").status_code == 200
    refused_without_redirect(client.get("/healthz", base_url="http://10.0.0.8:8000"))


def test_outside_production_any_host_is_served_unless_trusted_hosts_is_set(
        tmp_path, monkeypatch):
    monkeypatch.delenv("TRUSTED_HOSTS", raising=False)
    for env in ("development", "test"):
        assert load_config(str(tmp_path), {"APP_ENV": env})["TRUSTED_HOSTS"] is None
    monkeypatch.setenv("TRUSTED_HOSTS", "portal.test")
    assert load_config(str(tmp_path), {"APP_ENV": "test", "PUBLIC_BASE_URL": PUBLIC}
                       )["TRUSTED_HOSTS"] == ["family.example.vn", "portal.test"]


def test_production_needs_a_public_address_with_a_host(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        load_config(str(tmp_path), {"APP_ENV": "production", "PUBLIC_BASE_URL": "family"})
