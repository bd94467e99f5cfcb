"""GET /healthz: 200 when the database answers, 503 when it does not."""

from tests.conftest import make_app


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_503_when_database_unreachable(tmp_path):
    # A SQLite file in a directory that does not exist cannot be opened.
    app = make_app("sqlite:///" + str(tmp_path / "missing" / "db.sqlite3"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}


def test_healthz_is_not_redirected_to_https_in_production(fresh_database_url):
    app = make_app(fresh_database_url(), APP_ENV="production", FORCE_HTTPS=True)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    # Every other page is sent to HTTPS.
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://")
