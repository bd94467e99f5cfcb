"""Handing the family over on the pages (issue 19): the link in the danger zone, the page
that lists who can take it and why not, the plain form post (no JavaScript)."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models.accounts import User
from app.models.groups import FamilyGroup
from tests.connections.helpers import build_family
from tests.factories import make_subscription
from tests.pages import flashes, post, text


@pytest.fixture
def family(app):
    return lambda **kwargs: build_family(app, **kwargs)


def _plan(app, who) -> None:
    with app.app_context():
        make_subscription(db.session.get(User, who.id))
        db.session.commit()


def _admin_of(app, group_id: int) -> int:
    with app.app_context():
        return db.session.get(FamilyGroup, group_id).admin_user_id


def test_the_family_page_links_to_the_hand_over_page(family, login, app):
    fam = family(patients=1, caregivers=2)
    _plan(app, fam.caregivers[1])
    admin = login(fam.admin)
    assert f'href="/family/{fam.id}/hand-over"' in text(admin.get(f"/family/{fam.id}"))
    page = text(admin.get(f"/family/{fam.id}/hand-over"))
    assert f'id="hand-over-{fam.caregivers[1].id}"' in page      # has a plan: a choice
    assert f'id="hand-over-{fam.caregivers[0].id}"' not in page  # no plan: not a choice
    assert f'id="not-eligible-{fam.caregivers[0].id}"' in page
    assert "no family plan of their own" in page
    # a member who is not the admin is not offered it
    assert login(fam.patients[0]).get(f"/family/{fam.id}/hand-over").status_code == 403


def test_plain_posts(family, login, app):
    fam = family(patients=1, caregivers=2)
    _plan(app, fam.caregivers[1])
    admin = login(fam.admin)
    url = f"/family/{fam.id}/hand-over"
    assert post(admin, url, {}).status_code == 422
    refused = post(admin, url, {"user_id": str(fam.caregivers[0].id)})
    assert refused.status_code == 422
    assert "no family plan of their own" in text(refused)
    assert _admin_of(app, fam.id) == fam.admin.id
    done = post(admin, url, {"user_id": str(fam.caregivers[1].id)})
    assert done.status_code == 303
    assert any("is the admin of" in m for m in flashes(admin))
    assert _admin_of(app, fam.id) == fam.caregivers[1].id
