"""GET /healthz: liveness. 200 while the process answers, without touching the database
(readiness, which does, is /readyz: tests/ops/test_readyz.py)."""

from tests.conftest import make_app


def test_healthz_ok_without_a_query(client, count_queries):
    with count_queries() as statements:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert statements == []


def test_healthz_answers_200_while_the_database_is_unreachable(tmp_path):
    # A SQLite file in a directory that does not exist cannot be opened: the process is
    # alive all the same, and restarting it would not bring the database back.
    app = make_app("sqlite:///" + str(tmp_path / "missing" / "db.sqlite3"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_is_not_redirected_to_https_in_production(fresh_database_url):
    app = make_app(fresh_database_url(), APP_ENV="production", FORCE_HTTPS=True)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    # Every other page is sent to HTTPS.
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://")
