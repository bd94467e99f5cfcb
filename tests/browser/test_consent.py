"""Withdrawing consent and handing the family over (issue 19) in Chromium, at 390 and
1280 px: the patient withdraws consent with a notice, the admin sees it on the family page
and is offered no restore, the patient restores one caregiver; then the admin hands the
family to a member who has a plan of their own."""

from __future__ import annotations

from playwright.sync_api import expect

from app.extensions import db
from app.models.accounts import User
from app.models.connections import Connection
from app.models.groups import FamilyGroup
from app.models.notifications import InviteNotification
from tests.browser.story import Shots, log_in
from tests.factories import make_subscription


def _read(live, fn):
    with live.app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def test_consent_withdrawn_seen_by_the_admin_and_restored_by_the_patient(
        live, world, new_page, screenshots):
    shots = Shots(screenshots)
    cid = world.connections["cuc", "binh"]
    patient = new_page("en-US")
    log_in(patient, live, world["binh"].phone, "en")
    patient.goto(live.url("/followers"))
    link = patient.locator("#withdraw-consent-link")
    expect(link).to_be_visible()
    shots.phone_and_desk(patient, "followers-withdraw-section", link)
    followers = _read(live, lambda: {c.linked_user_id for c in db.session.query(Connection)
                                     .filter_by(user_id=world["binh"].id,
                                                family_group_id=world.group_id)})
    link.click()
    expect(patient.locator("#consent-caregivers li")).to_have_count(len(followers))
    patient.locator('input[name="tell"][value="yes"]').check()
    shots.phone_and_desk(patient, "withdraw-confirm", patient.locator("#consent-submit"))
    patient.locator("#consent-submit").click()
    expect(patient.locator("#flashes .flash-success")).to_contain_text("were told")
    assert _read(live, lambda: db.session.get(Connection, cid).consent_withdrawn_at) is not None
    told = _read(live, lambda: {n.recipient_user_id for n in db.session.query(
        InviteNotification).filter_by(notification_type="CONSENT_WITHDRAWN")})
    assert told == followers

    admin = new_page("en-US")
    log_in(admin, live, world["an"].phone, "en")
    admin.goto(live.url(f"/family/{world.group_id}"))
    tag = admin.locator(f"#connection-{cid}-withdrawn")
    expect(tag).to_be_visible()
    expect(admin.locator(f"#connection-{cid}-restore")).to_have_count(0)
    expect(admin.locator(f"#connection-{cid}-hint")).to_contain_text("withdrew consent")
    shots(admin, "admin-sees-withdrawn", tag)
    # the URL typed by hand is refused with the reason
    response = admin.request.get(live.url(f"/connections/{cid}/restore"))
    assert response.status == 409

    patient.goto(live.url("/followers"))
    patient.locator(f"#connection-{cid}-restore").click()
    patient.locator(f"#restore-{cid}-confirm").click()
    expect(patient.locator(f"#connection-{cid}")).not_to_have_class("is-revoked")
    shots.phone_and_desk(patient, "patient-restored", patient.locator(f"#connection-{cid}"))
    assert _read(live, lambda: db.session.get(Connection, cid).consent_withdrawn_at) is None


def test_the_admin_hands_the_family_over(live, world, new_page, screenshots):
    shots = Shots(screenshots)

    def plan():
        make_subscription(db.session.get(User, world["cuc"].id), patients=2, caregivers=5)
        db.session.commit()
    _read(live, plan)
    admin = new_page("vi-VN")
    log_in(admin, live, world["an"].phone, "vi")
    admin.goto(live.url(f"/family/{world.group_id}"))
    link = admin.locator("#hand-over-link")
    expect(link).to_be_visible()
    link.click()
    choice = admin.locator(f"#hand-over-{world['cuc'].id}")
    expect(choice).to_be_visible()
    expect(admin.locator(f"#not-eligible-{world['dung'].id}")).to_be_visible()
    choice.check()
    shots.phone_and_desk(admin, "hand-over-confirm", admin.locator("#hand-over-submit"))
    admin.locator("#hand-over-submit").click()
    expect(admin.locator("#flashes .flash-success")).to_contain_text(world["cuc"].name)
    assert _read(live, lambda: db.session.get(FamilyGroup, world.group_id).admin_user_id) \
        == world["cuc"].id
    # An stays a caregiver of the family: the page no longer offers the admin's controls
    expect(admin.locator("#danger-zone")).to_have_count(0)
    shots.phone_and_desk(admin, "handed-over", admin.locator("#group-admin"))
