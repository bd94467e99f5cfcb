"""The family page's weight (issue 17): the benchmark's family of 2 patients and 4
caregivers (48 switches, every permission on, Vietnamese names, ids of a database of
hundreds of families) makes at most 25 kB of HTML, and the 4 × 10 family's page sends the
same SQL statements. Bytes and statements are counted here; speed is the benchmark's
(bench/ratio.py), never a timed test."""

from __future__ import annotations

import pytest

from app.extensions import db
from bench import load_app, load_generate
from tests.conftest import migrated_app

LIMIT = 25_000  # bytes of HTML


@pytest.fixture(scope="module")
def generated(fresh_database_url_module):
    url = fresh_database_url_module()
    app = migrated_app(url)
    fixture = load_generate.generate(url, groups=120, accepts=0, large=True,
                                     log=lambda _line: None)
    yield app, fixture
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def fresh_database_url_module(request, tmp_path_factory):
    from tests.conftest import BACKEND

    def make() -> str:
        if BACKEND == "postgresql":
            return request.getfixturevalue("pg_server").create_database("fc_weight")
        return "sqlite:///" + str(tmp_path_factory.mktemp("weight") / "weight.sqlite3")

    return make


def test_the_2x4_family_page_weighs_at_most_25_kb(generated):
    app, fixture = generated
    admin = load_app.logged_in(app, fixture.admin_phone)
    page = admin.get(f"/family/{fixture.group_id}")
    assert page.status_code == 200
    body = page.get_data()
    assert body.count(b'role="switch"') == 48  # nothing left out to make the weight
    assert len(body) <= LIMIT, f"{len(body):,} bytes"


def test_the_4x10_family_page_costs_the_2x4_statements(generated):
    app, fixture = generated
    admin = load_app.logged_in(app, fixture.admin_phone)
    large = load_app.logged_in(app, fixture.large.admin_phone)
    counts = {}
    for name, client, group_id in (("2x4", admin, fixture.group_id),
                                   ("4x10", large, fixture.large.group_id)):
        client.get(f"/family/{group_id}")  # warm the process's caches
        with load_app.counting(app) as statements:
            page = client.get(f"/family/{group_id}")
        assert page.status_code == 200
        counts[name] = len(statements)
    assert page.get_data().count(b'role="switch"') == 4 * 10 * 6
    assert counts["2x4"] == counts["4x10"] <= 5, counts
