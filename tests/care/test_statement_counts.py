"""The caregiver's "all my patients" page (/following) runs the same number of SQL
statements for 1 patient and for 25, permissions mixed and some connections silently
disconnected (issue 6, item 3). The counts are printed (pytest -s)."""

from __future__ import annotations

from tests.api.test_statement_counts import caregiver_with_patients
from tests.pages import text


def test_following_page_1_or_25_patients(app, client, login, count_queries):
    counts = {}
    for n in (1, 25):
        caregiver, _revoked = caregiver_with_patients(app, client, n)
        c = login(caregiver)
        assert c.get("/following").status_code == 200  # warm up
        with count_queries() as statements:
            response = c.get("/following")
        assert response.status_code == 200
        page = text(response)
        # Every patient shows, the disconnected ones too, with no word about why (BR-040).
        assert page.count('class="followed-person"') == n
        assert page.count("Bệnh nhân") >= n
        counts[n] = len(statements)
    print(f"\nGET /following (caregiver page): {counts}")
    assert counts[1] == counts[25], counts
