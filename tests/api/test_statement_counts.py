"""Bidirectional reads without N+1 (issue 6, item 3; the seed's point): a family with its
members, a user with their families, and the caregiver's "all my patients" each run the
same number of SQL statements for a small fixture and a large one; so does the accept
(issue 17), whatever the family it joins.

Each read is warmed up once (the token's last use is written at most once a minute),
then counted with the count_queries fixture; the counts are printed (pytest -s).
"""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models.accounts import User
from app.models.connections import PERMISSION_CODES
from app.models.groups import FamilyGroup
from tests.api import Api, Person, family, invite, person
from tests.conftest import BACKEND
from tests.factories import make_connection, make_member, make_user
from tests.invites.families import ACCEPT_STATEMENTS, SIZES, check_joined, joining, same_count


def user_ids(app, n: int, prefix: str = "Thành viên") -> list[int]:
    with app.app_context():
        ids = [make_user(name=f"{prefix} {i}", gender=i % 2).id for i in range(n)]
        db.session.commit()
        return ids


def measured(count_queries, api: Api, path: str) -> tuple[dict, int]:
    """The JSON answer of a warmed-up GET and the statements it ran."""
    assert api.get(path).status_code == 200
    with count_queries() as statements:
        response = api.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json(), len(statements)


def same(label: str, counts: dict) -> None:
    print(f"\n{label}: {counts}")
    values = set(counts.values())
    assert len(values) == 1, counts


# --- GET /families/{id} with populated members ------------------------------------------


def test_family_with_1_or_30_members(app, client, count_queries):
    admins, members, counts = {}, {}, {}
    for size in (1, 30):
        admin = person(app, client)
        patient = person(app, client)
        ids = user_ids(app, size - 1)
        roles = [(patient, "patient")] + [(uid, "caregiver" if i % 3 else "patient")
                                          for i, uid in enumerate(ids)]
        group_id = family(app, admin, members=roles, patients=30, caregivers=30)
        for i in range(1 if size == 1 else 5):
            invite(app, admin, group_id, f"09860{size:02d}{i:03d}", "caregiver")
        admins[size], members[size] = (admin, group_id), (patient, group_id)
    for size in (1, 30):
        admin, group_id = admins[size]
        body, counts["admin", size] = measured(count_queries, admin.api, f"/families/{group_id}")
        assert len(body["patients"]) + len(body["caregivers"]) == size
        assert all(m["name"] for m in body["patients"] + body["caregivers"])
        assert len(body["invites"]) == (1 if size == 1 else 5)
        patient, group_id = members[size]
        body, counts["member", size] = measured(count_queries, patient.api,
                                                f"/families/{group_id}")
        assert len(body["patientIds"]) + len(body["caregiverIds"]) == size
    same("GET /families/{id} (admin)", {k: v for k, v in counts.items() if k[0] == "admin"})
    same("GET /families/{id} (member)", {k: v for k, v in counts.items() if k[0] == "member"})


# --- a user and their families ----------------------------------------------------------


def user_in_families(app, client, *, both_roles: bool, co_members: int) -> tuple[Person,
                                                                                  Person]:
    """A user who is a patient of one family (and, with both_roles, a caregiver of a
    second: BR-057 allows one family per role) among `co_members` other members, split
    between the families; and the first family's admin."""
    user = person(app, client)
    first_admin, second_admin = person(app, client), person(app, client)
    others = user_ids(app, co_members)
    half = len(others) // 2 if both_roles else len(others)
    family(app, first_admin, patients=30, caregivers=30,
           members=[(user, "patient")] + [(uid, "caregiver" if i % 2 else "patient")
                                          for i, uid in enumerate(others[:half])])
    if both_roles:
        family(app, second_admin, patients=30, caregivers=30,
               members=[(user, "caregiver")] + [(uid, "patient" if i % 2 else "caregiver")
                                                for i, uid in enumerate(others[half:])])
    return user, first_admin


def small_and_large(app, client) -> tuple[tuple[Person, Person], tuple[Person, Person]]:
    """user_in_families: one family and 2 co-members, then 2 families (both roles) and 30."""
    return (user_in_families(app, client, both_roles=False, co_members=2),
            user_in_families(app, client, both_roles=True, co_members=30))


def test_user_with_families_1_family_2_co_members_or_2_families_30(app, client,
                                                                     count_queries):
    small, large = small_and_large(app, client)
    counts = {}
    for label, (user, first_admin), families in (("small", small, 1), ("large", large, 2)):
        path = f"/users/{user.id}?expand=families"
        body, counts["self", label] = measured(count_queries, user.api, path)
        assert len(body["families"]) == families
        members = sum(len(f["patientIds"]) + len(f["caregiverIds"]) for f in body["families"])
        assert members == (3 if label == "small" else 32)
        # The admin of the first family sees that family only.
        body, counts["admin", label] = measured(count_queries, first_admin.api, path)
        assert [f["role"] for f in body["families"]] == ["patient"]
    same("GET /users/{id}?expand=families (self)",
         {k: v for k, v in counts.items() if k[0] == "self"})
    same("GET /users/{id}?expand=families (a family's admin)",
         {k: v for k, v in counts.items() if k[0] == "admin"})


def test_user_families_list_1_family_2_co_members_or_2_families_30(app, client,
                                                                   count_queries):
    staff = person(app, client, is_staff=True)
    small, large = small_and_large(app, client)
    counts = {}
    for label, (user, _admin), families in (("small", small, 1), ("large", large, 2)):
        path = f"/users/{user.id}/families"
        body, counts["self", label] = measured(count_queries, user.api, path)
        assert sorted(f["role"] for f in body["items"]) == (
            ["patient"] if families == 1 else ["caregiver", "patient"])
        body, counts["staff", label] = measured(count_queries, staff.api, path)
        assert len(body["items"]) == families
    same("GET /users/{id}/families (self)", {k: v for k, v in counts.items() if k[0] == "self"})
    same("GET /users/{id}/families (staff)",
         {k: v for k, v in counts.items() if k[0] == "staff"})


# --- the caregiver's patients: GET /connections "following" -----------------------------


def caregiver_with_patients(app, client, n: int) -> tuple[Person, int]:
    """A caregiver following n patients of their family, permissions mixed, every fourth
    connection silently disconnected; returns the caregiver and how many are revoked."""
    admin, caregiver = person(app, client), person(app, client, gender=1)
    patients = user_ids(app, n, prefix="Bệnh nhân")
    group_id = family(app, admin, patients=n, caregivers=2,
                      members=[(caregiver, "caregiver")] + [(p, "patient") for p in patients])
    revoked = 0
    with app.app_context():
        group = db.session.get(FamilyGroup, group_id)
        follower = db.session.get(User, caregiver.id)
        other = make_member(group, make_user(name="Người thân khác"), role="caregiver")
        for i, patient_id in enumerate(patients):
            patient = db.session.get(User, patient_id)
            connection = make_connection(patient, follower, group=group)
            for k, row in enumerate(connection.permissions):
                row.is_enabled = (i + k) % 3 != 0
            if i % 4 == 0:
                connection.permission_revoked = True
                for row in connection.permissions:
                    row.is_enabled = False
                revoked += 1
            make_connection(patient, db.session.get(User, other.user_id), group=group)
        db.session.commit()
    return caregiver, revoked


def test_following_1_or_25_patients(app, client, count_queries):
    counts = {}
    for n in (1, 25):
        caregiver, revoked = caregiver_with_patients(app, client, n)
        body, counts[n] = measured(count_queries, caregiver.api, "/connections")
        assert len(body["following"]) == n
        assert body["followers"] == []
        dark = [c for c in body["following"] if not any(c["permissions"].values())]
        assert len(dark) == revoked
        assert all("revoked" not in c for c in body["following"])  # BR-040
        assert all(set(c["permissions"]) == set(PERMISSION_CODES) for c in body["following"])
    same("GET /connections (caregiver)", counts)


# --- the accept: POST /invites/accept and /invites/{id}/accept (issue 17) -----------------


@pytest.mark.parametrize("role", ["caregiver", "patient"])
@pytest.mark.parametrize("by", ["token", "id"])
def test_accept_costs_the_same_for_1x1_and_4x10(app, client, count_queries, role, by):
    """The web form's statements (tests/invites/families.py), but the bearer token's
    lookup for the session's user, and the answer's two reads: the family's members and
    the connections' two parties (their permissions come from the accept's own INSERT)."""
    counted = {}
    for patients, caregivers in SIZES:
        fam = joining(app, patients=patients, caregivers=caregivers, role=role)
        api = Api(client, fam.api_token)
        assert api.get("/me").status_code == 200  # the token's last use is written once
        path, body = (("/invites/accept", {"token": fam.token, "relationship": "con_gai"})
                      if by == "token" else
                      (f"/invites/{fam.invite_id}/accept", {"relationship": "con_gai"}))
        with count_queries() as statements:
            response = api.post(path, json=body)
        assert response.status_code == 200, response.get_data(as_text=True)
        answer = response.get_json()
        assert answer["role"] == role
        assert sorted(c["caregiver" if role == "patient" else "patient"]["id"]
                      for c in answer["connections"]) == sorted(fam.others)
        assert all(c["permissions"] == dict.fromkeys(PERMISSION_CODES, True)
                   and c["relationship"] is not None for c in answer["connections"])
        counted[f"{patients}x{caregivers}"] = statements
        check_joined(app, fam, role)
    same_count(f"POST /api/v1/invites/{'accept' if by == 'token' else '<id>/accept'} "
               f"({role})", counted, ACCEPT_STATEMENTS[BACKEND] + 2)
