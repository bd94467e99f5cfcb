"""The whole story in Chromium, once in English and once in Vietnamese: an admin signs up
with the code that the SMS gateway received (ID-001: no account before it comes back),
redeems an activation code, creates the family and invites a caregiver and a patient; each
opens the link that the SMS gateway received, signs up and accepts, in a browser context
of their own, with no code (the link proved the number, and no code went to them); the
admin turns a permission off in place (htmx: the page does not reload) and silently
disconnects the caregiver (BR-040/056: nobody is told); the caregiver's page for the
patient loses the data.

Only what an outside party does is set up on the server: staff issuing the activation
code, and the health app filing the patient's periodic report (SPEC §2: patient_reports
stand in for it). Every step of the three people happens in the browser; each step leaves
a screenshot in test-output/screenshots/<backend>/<test>/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from app.billing.services import codes_issue
from app.extensions import db
from app.models.accounts import PhoneCode, User
from app.models.connections import Connection, ConnectionPermission
from app.models.notifications import InviteNotification
from app.models.reports import PatientReport
from tests.browser.story import (
    NAMES,
    TEXTS,
    Person,
    Shots,
    fill_sign_up,
    sign_up_and_accept,
    sized_for_six_digits,
    switch_language,
)
from tests.factories import make_user

REPORT_PERIOD = "2026-W47"
REPORT_SUMMARY = "Huyết áp ổn định 128/82"


def issue_code(live) -> str:
    """What staff do on their codes page: one Family-plan code, in clear this once."""
    with live.app.app_context():
        staff = make_user(name="Staff", is_staff=True)
        [code] = codes_issue(actor=staff, plan="family", days=30, reason="browser story")
        db.session.commit()
    return code


def file_report(live, patient: Person) -> int:
    """What the health app does: a periodic report for the patient."""
    with live.app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.phone == patient.phone))
        report = PatientReport(patient_id=user_id, period=REPORT_PERIOD, summary=REPORT_SUMMARY)
        db.session.add(report)
        db.session.commit()
        return report.id


def read_connection(live, patient: Person, caregiver: Person) -> tuple[int, bool, dict]:
    """(id, permission_revoked, {code: is_enabled}) of the caregiver→patient connection."""
    with live.app.app_context():
        ids = dict(db.session.execute(select(User.phone, User.id).where(
            User.phone.in_([patient.phone, caregiver.phone]))).tuples().all())
        connection = db.session.scalars(select(Connection).where(
            Connection.user_id == ids[patient.phone],
            Connection.linked_user_id == ids[caregiver.phone])).one()
        permissions = dict(db.session.execute(
            select(ConnectionPermission.permission_code, ConnectionPermission.is_enabled)
            .where(ConnectionPermission.contact_id == connection.id)).tuples().all())
        return connection.id, connection.permission_revoked, permissions


def user_facts(live, person: Person) -> tuple[int, str]:
    with live.app.app_context():
        user = db.session.scalars(select(User).where(User.phone == person.phone)).one()
        return user.id, user.locale


def account_state(live, person: Person) -> str:
    """"no account", "unproved" or "proved": the account of the person's number."""
    with live.app.app_context():
        user = db.session.scalars(select(User).where(User.phone == person.phone)).one_or_none()
        db.session.remove()
    if user is None:
        return "no account"
    return "proved" if user.phone_verified_at is not None else "unproved"


def code_traces(live, person: Person) -> tuple[int, int, list[str]]:
    """What a one-time code to the person's number would leave: its rows (phone_codes),
    its outbox rows (PHONE_CODE) and the codes the gateway texted."""
    with live.app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(PhoneCode).where(
            PhoneCode.phone == person.phone))
        queued = db.session.scalar(select(func.count()).select_from(InviteNotification).where(
            InviteNotification.recipient == person.phone,
            InviteNotification.notification_type == "PHONE_CODE"))
        db.session.remove()
    return rows, queued, live.codes(person.phone)


def outbox_count(live) -> int:
    with live.app.app_context():
        return db.session.scalar(select(func.count()).select_from(InviteNotification))


def texts_to(live, person: Person) -> int:
    return sum(1 for r in live.gateway.requests if r.body.get("to") == person.phone)


def admin_starts(page: Page, live, lang: str, admin: Person, code: str, family: str,
                 shots: Shots) -> int:
    """Register in the chosen language, redeem the code, create the family: its id."""
    t = TEXTS[lang]
    page.goto(live.url("/account/register"))
    # Vietnamese by default: the switch offers English. The Vietnamese story goes there
    # and back, so that both stories choose their language with the switch.
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    if lang == "vi":
        switch_language(page, TEXTS["en"])
    switch_language(page, t)
    expect(page.get_by_role("heading", level=1)).to_have_text(t["register_heading"])
    shots(page, "admin-chooses-language")

    page.get_by_label(t["phone"], exact=True).fill(admin.typed_phone)
    fill_sign_up(page, admin, t)
    page.get_by_role("button", name=t["sign_up"], exact=True).click()
    # ID-001: no account yet; it waits for the code that the SMS brought to the number.
    page.wait_for_url(re.compile(r"/account/register/verify$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(t["verify_heading"])
    expect(page.get_by_label(t["phone"], exact=True)).to_have_value(admin.shown_phone)
    assert account_state(live, admin) == "no account"
    texted = live.sms_code(admin.phone)
    [sms] = live.texts(admin.phone)  # the code, and nothing else, in the language chosen
    assert sms.startswith(t["signup_sms"].format(code=texted)), sms
    assert code_traces(live, admin) == (1, 1, [texted])  # what the invitees must not have
    page.get_by_label(t["sms_code"], exact=True).fill(texted)
    sized_for_six_digits(page.get_by_label(t["sms_code"], exact=True))
    shots.phone_and_desk(page, "admin-types-sms-code")
    page.get_by_role("button", name=t["create_account"], exact=True).click()
    page.wait_for_url(live.url("/"))
    expect(page.locator(".flashes")).to_contain_text(t["welcome"].format(name=admin.name))
    expect(page.get_by_role("heading", level=1)).to_have_text(t["hello"].format(name=admin.name))
    assert account_state(live, admin) == "proved"

    page.goto(live.url("/plan"))
    expect(page.get_by_role("heading", level=1)).to_have_text(t["plan_heading"])
    page.get_by_label(t["code"], exact=True).fill(code.lower())  # typed: case does not matter
    page.get_by_role("button", name=t["redeem"], exact=True).click()
    page.wait_for_url(live.url("/family"))
    expect(page.locator(".flashes")).to_contain_text(t["code_accepted"])
    shots(page, "admin-redeemed-code")

    page.get_by_label(t["family_name"], exact=True).fill(family)
    page.get_by_role("button", name=t["create_heading"], exact=True).click()
    page.wait_for_url(re.compile(r"/family/\d+$"))
    expect(page.locator(".flashes")).to_contain_text(t["created"].format(name=family))
    expect(page.get_by_role("heading", level=1)).to_have_text(family)
    shots(page, "admin-created-family")
    return int(page.url.rsplit("/", 1)[1])


def admin_invites(page: Page, live, t: dict, person: Person, role: str, shots: Shots) -> None:
    """The invite form (phone and role): the panel shows the link that was also texted."""
    page.get_by_label(t["their_phone"], exact=True).fill(person.typed_phone)
    page.get_by_label(t[role], exact=True).check()
    page.get_by_role("button", name=t["send_invite"], exact=True).click()
    panel = page.locator("#invite-panel.issued")
    expect(panel.get_by_role("status")).to_have_text(
        t["invited"].format(phone=person.shown_phone, role=t[f"role_{role}"]))
    assert panel.get_by_role("textbox").input_value() == live.invite_link(person.phone)
    shots(page, f"admin-invited-{role}")


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_the_whole_story(lang, live, new_page, screenshots):
    t, names, shots = TEXTS[lang], NAMES[lang], Shots(screenshots)
    family = names["family"]
    admin = Person(names["admin"], "female")
    caregiver = Person(names["caregiver"], "female")
    patient = Person(names["patient"], "male")
    code = issue_code(live)

    # --- the admin: language, account, plan, family, two invites -------------------------
    admin_page = new_page()
    group_id = admin_starts(admin_page, live, lang, admin, code, family, shots)
    group_url = live.url(f"/family/{group_id}")
    admin_page.get_by_role("link", name=t["invite_caregiver"], exact=True).click()
    admin_invites(admin_page, live, t, caregiver, "caregiver", shots)
    admin_page.get_by_role("link", name=t["invite_someone_else"], exact=True).click()
    admin_invites(admin_page, live, t, patient, "patient", shots)
    assert user_facts(live, admin)[1] == lang  # the choice is stored on the user

    # --- the invitees, each in a browser context of their own ----------------------------
    choose = "en" if lang == "en" else None  # Vietnamese is what they get by default
    caregiver_page = new_page(refusals_ok=True)  # opens the refused reports at the end
    sign_up_and_accept(caregiver_page, live.invite_link(caregiver.phone), caregiver, t=t,
                       admin=admin, family=family, role="caregiver", choose=choose, shots=shots)
    patient_page = new_page()
    sign_up_and_accept(patient_page, live.invite_link(patient.phone), patient, t=t,
                       admin=admin, family=family, role="patient", choose=choose, shots=shots)
    for invitee in (caregiver, patient):  # ID-001: the link proved the number, no code
        assert account_state(live, invitee) == "proved"
        assert code_traces(live, invitee) == (0, 0, [])
    patient_id, patient_locale = user_facts(live, patient)
    assert patient_locale == user_facts(live, caregiver)[1] == lang
    report_id = file_report(live, patient)
    live.deliver()  # the joined notices go out now, not in the middle of the silent part

    # The caregiver follows the patient and sees the blocks of the six permissions.
    caregiver_page.goto(live.url("/following"))
    expect(caregiver_page.get_by_role("heading", level=1)).to_have_text(t["following"])
    caregiver_page.get_by_role("link", name=patient.name, exact=True).click()
    caregiver_page.wait_for_url(live.url(f"/following/{patient_id}"))
    expect(caregiver_page.get_by_role("heading", level=1)).to_have_text(patient.name)
    expect(caregiver_page.locator(".care-block")).to_have_count(6)
    expect(caregiver_page.locator(f"#report-{report_id}")).to_contain_text(REPORT_PERIOD)
    unread_before = caregiver_page.locator("#notifications-link").inner_text()
    shots(caregiver_page, "caregiver-sees-patient")

    # --- the admin turns "encouragement" off, in place -------------------------------------
    connection_id, revoked, permissions = read_connection(live, patient, caregiver)
    assert not revoked
    assert permissions == dict.fromkeys(permissions, True)
    assert len(permissions) == 6
    # The patient sees who follows them (dual control: their data, their say).
    patient_page.goto(live.url("/followers"))
    follower = patient_page.locator(f"#connection-{connection_id}")
    expect(follower.get_by_role("rowheader")).to_have_text(caregiver.name)
    expect(follower.get_by_role("switch", checked=True)).to_have_count(6)
    shots(patient_page, "patient-sees-follower")
    admin_page.goto(group_url)
    matrix = admin_page.get_by_role("region", name=t["permissions"])
    switch = matrix.get_by_role(
        "switch", name=f"{t['encouragement']} — {caregiver.name} → {patient.name}", exact=True)
    expect(switch).to_have_attribute("aria-checked", "true")
    shots(admin_page, "admin-permissions", focus=matrix)
    admin_page.evaluate("window.__noReload = 42")
    # its table cell: the switch, or the question that takes its place
    fid = f"connection-{connection_id}-encouragement"
    cell = admin_page.locator(f'td:has([value^="{connection_id} encouragement "]), '
                              f"td:has(#{fid}-question)")
    switch.click()
    expect(cell).to_contain_text(t["turn_off_question"].format(
        permission=t["encouragement"], caregiver=caregiver.name))
    shots(admin_page, "admin-confirms-turn-off", focus=matrix)
    with admin_page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/permissions/encouragement")
    ) as answer:
        cell.get_by_role("button", name=t["turn_off"], exact=True).click()
    assert answer.value.status == 200
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_have_text(t["off"])
    assert admin_page.evaluate("window.__noReload") == 42  # same document: no reload
    assert admin_page.url == group_url
    _id, revoked, permissions = read_connection(live, patient, caregiver)
    assert not revoked
    assert permissions.pop("encouragement") is False
    assert all(permissions.values())
    shots(admin_page, "admin-turned-off", focus=matrix)

    # The caregiver's page loses that block at once (SEC-002), the others stay.
    caregiver_page.reload()
    expect(caregiver_page.locator(".care-block")).to_have_count(5)
    expect(caregiver_page.locator("#block-encouragement")).to_have_count(0)
    expect(caregiver_page.locator(f"#report-{report_id}")).to_be_visible()

    # --- the admin silently disconnects the caregiver ---------------------------------------
    outbox, texts = outbox_count(live), len(live.gateway.requests)
    to_caregiver = texts_to(live, caregiver)  # the invite, and the patient's arrival
    caregiver_row = admin_page.locator("#members-caregiver .member").filter(has_text=caregiver.name)
    caregiver_row.get_by_role("link", name=t["disconnect_all"], exact=True).click()
    caregiver_row.get_by_label(t["reason"], exact=True).fill("Private: the family asked.")
    shots(admin_page, "admin-confirms-disconnect")
    caregiver_row.get_by_role("button", name=t["disconnect_all"], exact=True).click()
    expect(admin_page.locator(".flashes")).to_contain_text(
        t["disconnected_flash"].format(caregiver=caregiver.name))
    expect(admin_page.locator(f"#connection-{connection_id}-revoked")).to_have_text(
        t["disconnected"])
    shots(admin_page, "admin-disconnected-caregiver", focus=matrix)
    _id, revoked, permissions = read_connection(live, patient, caregiver)
    assert revoked
    assert not any(permissions.values())
    live.deliver()
    assert outbox_count(live) == outbox  # BR-056: no outbox row, for anyone
    assert len(live.gateway.requests) == texts  # no SMS, to anyone
    assert texts_to(live, caregiver) == to_caregiver

    # --- the caregiver: the name stays (BR-040), the data is gone, nothing says why -------
    caregiver_page.goto(live.url("/following"))
    expect(caregiver_page.get_by_role("link", name=patient.name, exact=True)).to_be_visible()
    caregiver_page.goto(live.url(f"/following/{patient_id}"))
    expect(caregiver_page.get_by_role("heading", level=1)).to_have_text(patient.name)
    expect(caregiver_page.locator("#nothing-to-show")).to_have_text(t["nothing"])
    expect(caregiver_page.locator(".care-block")).to_have_count(0)
    body = caregiver_page.locator("main").inner_text()
    assert REPORT_PERIOD not in body
    assert t["disconnected"].lower() not in body.lower()  # nothing says why
    assert caregiver_page.locator("#notifications-link").inner_text() == unread_before
    shots(caregiver_page, "caregiver-after-disconnect")
    for path in (f"/following/{patient_id}/reports",
                 f"/following/{patient_id}/reports/{report_id}"):
        response = caregiver_page.goto(live.url(path))
        assert response.status == 403, path
        expect(caregiver_page.locator("main")).to_contain_text(t["refused"])
        page_text = caregiver_page.content()
        assert REPORT_PERIOD not in page_text
        assert REPORT_SUMMARY not in page_text
    shots(caregiver_page, "caregiver-reports-refused")
