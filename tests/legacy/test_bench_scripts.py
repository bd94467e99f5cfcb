"""bench/import_generate.py and bench/import_bench.py stay runnable: a small file, then the
benchmark's two runs on it against the backend under test (no timing is asserted: the
figures are the benchmark's, run by hand — bench/README.md)."""

from __future__ import annotations

import json

from app.phone import normalize_phone
from bench import import_bench, import_generate
from tests.conftest import BACKEND


def test_the_generator_writes_about_five_people_a_record_some_bad_some_shared(tmp_path):
    path = tmp_path / "legacy.jsonl"
    assert import_generate.write(path, 2000) == 2000
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2000
    records = [json.loads(line) for line in lines if line != "{not json"]
    bad = 2000 - len(records) + sum(
        1 for r in records if r["plan"] != "family" or r["admin"]["phone"] == "12345")
    assert bad == 1  # one record in 2,000
    people = [p["phone"] for r in records for p in (r["admin"], *r["patients"],
                                                     *r["caregivers"])]
    distinct = {normalize_phone(p) for p in people if p != "12345"}
    assert 4.5 <= len(distinct) / len(records) <= 5.5
    patients = [normalize_phone(p["phone"]) for r in records for p in r["patients"]]
    assert len(patients) - len(set(patients)) == 2  # shared with the record before
    # the same seed, the same file; an array is the same records
    again = tmp_path / "again.json"
    import_generate.write(again, 2000, array=True)
    as_array = json.loads(again.read_text(encoding="utf-8"))
    assert [r for r in as_array if r != {"legacyId": 42}] == records


def test_the_benchmark_runs_both_imports(tmp_path, fresh_database_url):
    lines: list[str] = []
    url = fresh_database_url() if BACKEND == "postgresql" else None
    first, second = import_bench.run(records=30, sqlite=BACKEND == "sqlite", url=url,
                                     out=lines.append)
    assert first.status == second.status == 0
    assert first.summary["records read"] == second.summary["records read"] == 30
    assert first.summary["groups created"] == 30
    assert first.summary["users created"] > 100
    assert second.summary["groups matched (already imported)"] == 30
    assert second.summary["groups created"] == second.summary["users created"] == 0
    assert first.peak_mb > 10
    assert first.seconds > 0
    assert lines[0].startswith("generated 30 records")
    assert lines[-2].startswith("first run")
    assert "records/s" in lines[-2]
    assert lines[-1].startswith("second run")
