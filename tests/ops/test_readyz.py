"""GET /readyz: readiness (issue 20, item 4). 200 only when the database answers and its
schema is at the migrations' head; 503 otherwise, saying what was found and expected.
Each test runs on the backend under test (TEST_DATABASE), on a database of its own."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from app import resource_dir
from app.extensions import db
from tests.conftest import BACKEND, make_app, migrated_app
from tests.ports import free_port

HEAD = ScriptDirectory(resource_dir("migrations")).get_current_head()


def test_the_head_is_the_newest_revision():
    assert HEAD == "0013_email_proof"


def test_ready_at_the_head_with_one_query(app, client, count_queries):
    client.get("/readyz")  # the head is read from the scripts once per process
    with count_queries() as statements:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "revision": HEAD}
    assert len(statements) == 1


def test_one_revision_behind_is_503_migrating_with_both_revisions(fresh_database_url):
    app = migrated_app(fresh_database_url())
    with app.app_context():
        downgrade(revision="-1")
        db.session.remove()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "migrating", "revision": "0011_request_id",
                                   "expected": HEAD}
    # `flask db upgrade` while the process runs: ready without a restart.
    with app.app_context():
        upgrade()
        db.session.remove()
    assert app.test_client().get("/readyz").status_code == 200


def test_a_database_never_migrated_is_503_migrating(fresh_database_url):
    response = make_app(fresh_database_url()).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "migrating", "revision": None, "expected": HEAD}


def _unreachable_url(tmp_path) -> str:
    if BACKEND == "postgresql":  # nothing listens there
        return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/fc?connect_timeout=2"
    # A SQLite file in a directory that does not exist cannot be opened.
    return "sqlite:///" + str(tmp_path / "missing" / "db.sqlite3")


def test_an_unreachable_database_is_503_unavailable_and_healthz_stays_200(tmp_path):
    client = make_app(_unreachable_url(tmp_path)).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body == {"status": "unavailable", "revision": None, "expected": HEAD}
    assert "postgres" not in response.get_data(as_text=True)  # no address, no user
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/readyz", "/healthz"])
def test_probes_answer_plain_http_in_production(fresh_database_url, path):
    app = migrated_app(fresh_database_url(), APP_ENV="production", FORCE_HTTPS=True)
    client = app.test_client()
    assert client.get(path).status_code == 200
    # Every page is sent to HTTPS.
    assert client.get("/account/login").status_code == 302
