"""The accept from the web form runs the same statements whatever the family's size
(issue 17): a patient or a caregiver joining a family of 1 patient and 1 caregiver, and
one of 4 patients and 10 caregivers, through the link page or the pending invites page,
with a relationship or without, new to the family or back after leaving (their earlier
connection rows reused). The counts are printed (pytest -s)."""

from __future__ import annotations

import pytest

from tests.conftest import BACKEND
from tests.invites.families import (
    ACCEPT_STATEMENTS,
    SIZES,
    check_joined,
    joining,
    same_count,
)
from tests.pages import csrf_from

ROLES = ["caregiver", "patient"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("relationship", ["con_gai", ""])
def test_link_accept_costs_the_same_for_1x1_and_4x10(app, login, count_queries, role,
                                                     relationship):
    counted = {}
    for patients, caregivers in SIZES:
        fam = joining(app, patients=patients, caregivers=caregivers, role=role)
        c = login(fam.invitee)
        csrf = csrf_from(c.get(f"/i/{fam.token}").get_data(as_text=True))
        with count_queries() as statements:
            response = c.post("/i/accept", data={"token": fam.token, "csrf_token": csrf,
                                                 "relationship": relationship})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        assert response.headers["Location"].endswith(f"/family/{fam.group_id}")
        counted[f"{patients}x{caregivers}"] = statements
        check_joined(app, fam, role)
    same_count(f"POST /i/accept ({role}, relationship {relationship or 'none'})", counted,
               ACCEPT_STATEMENTS[BACKEND] - (0 if relationship else 1))


@pytest.mark.parametrize("role", ROLES)
def test_accept_from_the_pending_invites_costs_the_same_for_1x1_and_4x10(app, login,
                                                                        count_queries, role):
    counted = {}
    for patients, caregivers in SIZES:
        fam = joining(app, patients=patients, caregivers=caregivers, role=role)
        c = login(fam.invitee)
        csrf = csrf_from(c.get("/invites").get_data(as_text=True))
        with count_queries() as statements:
            response = c.post(f"/invites/{fam.invite_id}/accept",
                              data={"csrf_token": csrf, "relationship": "chau"})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        counted[f"{patients}x{caregivers}"] = statements
        check_joined(app, fam, role)
    same_count(f"POST /invites/<id>/accept ({role})", counted, ACCEPT_STATEMENTS[BACKEND])


@pytest.mark.parametrize("role", ROLES)
def test_accept_back_after_leaving_reuses_the_rows_in_as_many_statements(app, login,
                                                                         count_queries, role):
    counted = {}
    for patients, caregivers in SIZES:
        fam = joining(app, patients=patients, caregivers=caregivers, role=role,
                      returning=True)
        c = login(fam.invitee)
        csrf = csrf_from(c.get(f"/i/{fam.token}").get_data(as_text=True))
        with count_queries() as statements:
            response = c.post("/i/accept", data={"token": fam.token, "csrf_token": csrf,
                                                 "relationship": "con_gai"})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        counted[f"{patients}x{caregivers}"] = statements
        check_joined(app, fam, role)  # one row per pair: the earlier ones, live again
    # One more read: the earlier rows' permissions. Their connections and the permission
    # rows that change are then written as the new ones would be, one statement each.
    same_count(f"POST /i/accept, back after leaving ({role})", counted,
               ACCEPT_STATEMENTS[BACKEND] + 1)
