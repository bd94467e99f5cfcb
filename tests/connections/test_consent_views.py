"""Withdrawing consent on the pages (issue 19): the section on "Who follows me", the
confirmation page, the plain form post (no JavaScript), the admin's family page that says
so instead of offering Restore, and the admin's restore refused."""

from __future__ import annotations

from tests.connections.helpers import is_revoked, stranger
from tests.pages import flashes, post, text
from tests.service_helpers import outbox_last, outbox_since


def test_followers_page_offers_withdrawal_and_the_step_names_what_happens(family, login, app):
    fam = family(patients=1, caregivers=2)
    c = login(fam.patients[0])
    body = text(c.get("/followers"))
    assert 'id="withdraw-consent"' in body
    assert 'href="/followers/withdraw-consent"' in body
    step = c.get("/followers/withdraw-consent")
    assert step.status_code == 200
    page = text(step)
    assert "Caregiver 1" in page
    assert "Caregiver 2" in page
    assert 'name="tell" type="radio" value="yes"' in page or 'value="yes"' in page
    assert 'name="csrf_token"' in page
    # nothing happened yet
    assert not is_revoked(app, fam.cid[(0, 0)])


def test_plain_post_without_a_choice_is_422_and_changes_nothing(family, login, app):
    fam = family(patients=1, caregivers=1)
    c = login(fam.patients[0])
    response = post(c, "/followers/withdraw-consent", {})
    assert response.status_code == 422
    assert "Choose whether your caregivers are told." in text(response)
    assert not is_revoked(app, fam.cid[(0, 0)])


def test_silent_withdrawal_by_a_plain_post(family, login, app):
    fam = family(patients=1, caregivers=2)
    mark = outbox_last(app)
    c = login(fam.patients[0])
    response = post(c, "/followers/withdraw-consent", {"tell": "no"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/followers")
    assert any("Nobody was told" in m for m in flashes(c))
    assert is_revoked(app, fam.cid[(0, 0)])
    assert is_revoked(app, fam.cid[(0, 1)])
    with app.app_context():
        assert outbox_since(mark) == []


def test_withdrawal_with_a_notice_and_the_admin_sees_it(family, login, app):
    fam = family(patients=1, caregivers=2)
    mark = outbox_last(app)
    c = login(fam.patients[0])
    assert post(c, "/followers/withdraw-consent", {"tell": "yes"}).status_code == 303
    with app.app_context():
        told = {(r.notification_type, r.recipient_user_id) for r in outbox_since(mark)
                if r.channel == "in_app"}
    assert told == {("CONSENT_WITHDRAWN", cg.id) for cg in fam.caregivers}
    # the admin's family page says so instead of offering Restore
    admin = login(fam.admin)
    page = text(admin.get(f"/family/{fam.id}"))
    cid = fam.cid[(0, 0)]
    assert f'id="connection-{cid}-withdrawn"' in page
    assert f'id="connection-{cid}-restore"' not in page
    assert "The patient withdrew consent: only they can restore it" in page
    # no "Restore all" for a caregiver whose only connection is withdrawn
    assert f'id="caregiver-{fam.caregivers[0].id}-restore"' not in page
    # the admin's restore, page and post, is refused with the reason
    assert admin.get(f"/connections/{cid}/restore").status_code == 409
    refused = post(admin, f"/connections/{cid}/restore", {})
    assert refused.status_code == 303
    assert any("Only the patient can restore it" in m for m in flashes(admin))
    assert is_revoked(app, cid)
    refused_all = post(admin, f"/family/{fam.id}/caregivers/{fam.caregivers[0].id}/restore", {})
    assert refused_all.status_code == 303
    assert is_revoked(app, cid)
    # the patient's own restore works, from "Who follows me"
    patient_page = text(c.get("/followers"))
    assert f'id="connection-{cid}-restore"' in patient_page
    assert post(c, f"/connections/{cid}/restore", {"back": "followers"}).status_code == 303
    assert not is_revoked(app, cid)


def test_nobody_to_withdraw_from(login, app):
    c = login(stranger(app))
    page = text(c.get("/followers/withdraw-consent"))
    assert 'id="consent-nothing"' in page
    response = post(c, "/followers/withdraw-consent", {"tell": "no"})
    assert response.status_code == 303
    assert any("no consent to withdraw" in m for m in flashes(c))


def test_withdrawal_needs_a_login(client):
    response = client.get("/followers/withdraw-consent")
    assert response.status_code == 302
