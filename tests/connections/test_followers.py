"""The patient's side (dual control): "Who follows me" — each caregiver with their
permissions, the same toggles, the silent disconnect and restore as the admin's, under the
same rules, and the history without the admin's private reason."""

from __future__ import annotations

from app.models.connections import PERMISSION_CODES
from tests.connections.helpers import (
    accessible_name,
    is_revoked,
    permissions,
    revoke,
    set_permissions,
    stranger,
    switch,
    toggle,
)
from tests.pages import HX, flashes, fragment, post, text
from tests.service_helpers import (
    ALL_OFF,
    ALL_ON,
    audit_last,
    audit_since,
    counts,
    outbox_last,
    outbox_since,
)


def test_followers_empty_state(app, login):
    response = login(stranger(app)).get("/followers")
    assert response.status_code == 200
    body = text(response)
    assert 'id="no-followers"' in body
    assert "Nobody follows you yet." in body
    assert 'role="switch"' not in body


def test_followers_needs_a_login(client):
    response = client.get("/followers")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")


def test_br029_followers_lists_each_caregiver_with_their_permissions(family, login, app):
    fam = family(patients=1, caregivers=2, relationship="con_gai")
    patient = fam.patients[0]
    response = login(patient).get("/followers")
    assert response.status_code == 200
    body = text(response)
    form = body.split(f'<form id="m{patient.id}" ')[1].split("</form>")[0]  # holds the table
    for c, caregiver in enumerate(fam.caregivers):
        cid = fam.cid[(0, c)]
        assert f'<tr id="connection-{cid}"' in body
        assert (f'<span class="relationship">Daughter</span> · '
                f'<span class="name">{caregiver.name}</span>' in body)
        for code in PERMISSION_CODES:
            button = switch(body, cid, code)
            assert 'role="switch"' in button
            assert 'aria-checked="true"' in button
            assert button in form
        assert (accessible_name(body, switch(body, cid, "task_config"))
                == f"Configure tasks — {caregiver.name} → {patient.name}")
        assert f'href="/connections/{cid}/history"' in body
        assert f'href="/connections/{cid}/disconnect?back=followers"' in body
        related = f'id="connection-{cid}-related"' in body
        assert related == ("care.relationship" in app.view_functions)
    assert "2 of 2 caregivers receive your emergency alerts" in body
    assert 'id="nobody-alerted"' not in body


def test_followers_says_when_nobody_receives_my_emergency_alerts(family, login, app):
    fam = family(patients=1, caregivers=1)
    set_permissions(app, fam.cid[(0, 0)], {"emergency_alert": False})
    body = text(login(fam.patients[0]).get("/followers"))
    assert 'id="nobody-alerted"' in body
    assert "Nobody receives your emergency alerts." in body


def test_followers_shows_a_badge_and_restore_on_a_disconnected_caregiver(family, login, app):
    fam = family(patients=1, caregivers=2)
    cid = fam.cid[(0, 1)]
    revoke(app, cid)
    body = text(login(fam.patients[0]).get("/followers"))
    assert f'id="connection-{cid}-revoked">Disconnected<' in body
    assert f'id="connection-{cid}-restore"' in body
    assert f'/connections/{cid}/disconnect' not in body
    assert all(" disabled" in switch(body, cid, code) for code in PERMISSION_CODES)
    live = fam.cid[(0, 0)]
    assert f'id="connection-{live}-revoked"' not in body


def test_the_caregiver_sees_no_disconnect_anywhere_on_their_followers_page(family, login, app):
    fam = family(patients=1, caregivers=1)
    revoke(app, fam.cid[(0, 0)])
    body = text(login(fam.caregivers[0]).get("/followers"))
    assert "Disconnected" not in body
    assert 'id="no-followers"' in body


# --- dual control: the patient uses the same endpoints ----------------------------------


def test_br024_patient_turns_a_permission_off_after_confirming_and_on_again(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.patients[0])
    before = counts(app)
    step = toggle(c, cid, "health_overview", "off", back="followers", htmx=False)
    assert step.status_code == 200
    assert "Turn off “View health overview” for Caregiver 1?" in text(step)
    assert f'href="/connections/{cid}/permissions/health_overview?back=followers"' in text(step)
    assert counts(app) == before
    response = toggle(c, cid, "health_overview", "off", confirmed=True, back="followers",
                      htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/followers#connection-{cid}"
    assert flashes(c) == ["“View health overview” is off for Caregiver 1."]
    assert permissions(app, cid)["health_overview"] is False
    first, first_audit = outbox_last(app), audit_last(app)
    response = toggle(c, cid, "health_overview", "on", back="followers")
    assert response.status_code == 200
    assert "<html" not in text(response)
    assert permissions(app, cid) == ALL_ON
    with app.app_context():
        assert outbox_since(first) == []  # the patient is told only of the admin's changes
        (event,) = audit_since(first_audit)
        assert (event.action, event.details["as"]) == ("connection.permission_changed",
                                                       "patient")
    keep = c.get(f"/connections/{cid}/permissions/health_overview?back=followers")
    assert keep.status_code == 302
    assert keep.headers["Location"] == f"/followers#connection-{cid}"


def test_br018_patient_gets_the_strong_warning_in_their_own_words(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    body = text(toggle(login(fam.patients[0]), cid, "emergency_alert", "off",
                       back="followers"))
    assert "Stop sending your emergency alerts to Caregiver 1?" in body
    assert "Warning: if you have an emergency, Caregiver 1 will not be alerted." in body
    assert ("Nobody else receives your emergency alerts: after this, nobody will be alerted."
            in body)
    assert permissions(app, cid) == ALL_ON


def test_br018_patient_toggle_updates_their_counter_out_of_band(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid, patient = fam.cid[(0, 0)], fam.patients[0]
    body = text(toggle(login(patient), cid, "emergency_alert", "off", confirmed=True,
                       back="followers"))
    oob = body.split(f'id="patient-{patient.id}-alerts" hx-swap-oob="true">')[1]
    assert "0 of 1 caregivers receive your emergency alerts" in oob
    assert "Nobody receives your emergency alerts." in oob


def test_br039_patient_cannot_turn_off_the_last_permission(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    set_permissions(app, cid, ALL_OFF | {"task_config": True})
    c = login(fam.patients[0])
    before = counts(app)
    response = toggle(c, cid, "task_config", "off", confirmed=True, back="followers")
    assert response.status_code == 409
    assert "use “Disconnect” instead" in text(response)
    assert f'href="/connections/{cid}/disconnect?back=followers"' in text(response)
    assert counts(app) == before


def test_br056_patient_disconnects_silently_and_restores(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.patients[0])
    confirm = text(c.get(f"/connections/{cid}/disconnect?back=followers"))
    assert "Disconnect Caregiver 1 from you?" in confirm
    assert "You will have nobody receiving your emergency alerts." in confirm
    assert 'href="/followers#connection-' in confirm
    before = counts(app)
    response = post(c, f"/connections/{cid}/disconnect", {"back": "followers", "reason": "riêng"},
                    HX)
    body = fragment(response, f'<tr id="connection-{cid}" class="is-revoked">')
    # Restore asks first, and comes back here.
    assert f'href="/connections/{cid}/restore?back=followers"' in body
    assert "0 of 1 caregivers receive your emergency alerts" in body
    assert counts(app)["outbox"] == before["outbox"]
    assert is_revoked(app, cid)
    assert permissions(app, cid) == ALL_OFF
    response = post(c, f"/connections/{cid}/restore", {"back": "followers"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/followers#connection-{cid}"
    assert "They were not told." in flashes(c)[0]
    assert not is_revoked(app, cid)
    assert permissions(app, cid) == ALL_ON
    assert counts(app)["outbox"] == before["outbox"]


def test_patient_is_not_the_admin_for_a_caregiver_wide_disconnect(family, login, app):
    fam = family(patients=1, caregivers=1)
    c = login(fam.patients[0])
    before = counts(app)
    url = f"/family/{fam.id}/caregivers/{fam.caregivers[0].id}"
    assert c.get(f"{url}/disconnect").status_code == 403
    assert post(c, f"{url}/disconnect", {}, HX).status_code == 403
    assert counts(app) == before
    assert not is_revoked(app, fam.cid[(0, 0)])


def test_patient_reads_the_history_and_sees_their_own_reason(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.patients[0])
    post(c, f"/connections/{cid}/disconnect", {"back": "followers", "reason": "Lý do của tôi"})
    body = text(c.get(f"/connections/{cid}/history"))
    assert "Disconnected Caregiver 1 from Patient 1. Nobody was told." in body
    assert "Lý do của tôi" in body
    assert 'href="/followers"' in body
    # The admin did not write it: hidden from them.
    admin_body = text(login(fam.admin).get(f"/connections/{cid}/history"))
    assert "Disconnected Caregiver 1 from Patient 1. Nobody was told." in admin_body
    assert "Lý do của tôi" not in admin_body


# --- restore as before (BR-040, issue 18) ------------------------------------------------


def test_br040_the_patient_restores_a_follower_as_before_after_a_confirmation(family, login,
                                                                              app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.patients[0])
    narrowed = {**ALL_ON, "task_config": False, "proxy_execution": False}
    set_permissions(app, cid, {"task_config": False, "proxy_execution": False})
    post(c, f"/connections/{cid}/disconnect", {"back": "followers"})
    assert permissions(app, cid) == ALL_OFF
    before, first = counts(app), outbox_last(app)
    # Without JavaScript: the restore link opens a page that names what comes back.
    page = c.get(f"/connections/{cid}/restore?back=followers")
    assert page.status_code == 200
    body = text(page)
    assert "<html" in body
    assert "Give Caregiver 1 access to you again?" in body
    on = body.split(f'id="restore-{cid}-on"')[1].split("</ul>")[0]
    off = body.split(f'id="restore-{cid}-off"')[1].split("</ul>")[0]
    for name in ("View health overview", "Receive emergency alerts", "Track compliance",
                 "Call to encourage"):
        assert f"<li>{name}</li>" in on
    assert "Configure tasks" not in on
    assert "Act on the patient's behalf" not in on
    assert "Configure tasks" in off
    assert "Act on the patient's behalf" in off
    assert 'href="/followers#connection-' in body  # cancel
    assert counts(app) == before
    assert is_revoked(app, cid)
    response = post(c, f"/connections/{cid}/restore", {"back": "followers"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/followers#connection-{cid}"
    assert flashes(c) == [
        "Caregiver 1 is connected to you again, as before the disconnect: View health "
        "overview, Receive emergency alerts, Track compliance, Call to encourage on; "
        "Configure tasks, Act on the patient's behalf still off. They were not told."]
    assert permissions(app, cid) == narrowed  # not all six
    with app.app_context():
        assert outbox_since(first) == []  # nobody is told


def test_br040_the_patient_restores_inline_with_htmx(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.patients[0])
    set_permissions(app, cid, {"encouragement": False})
    post(c, f"/connections/{cid}/disconnect", {"back": "followers"})
    first = outbox_last(app)
    ask = c.get(f"/connections/{cid}/restore?back=followers", headers=HX)
    body = fragment(ask, f'<div class="confirm restore-confirm" id="restore-{cid}" role="group"')
    assert f'hx-post="/connections/{cid}/restore" hx-target="#connection-{cid}"' in body
    assert 'hx-swap="outerHTML"' in body
    assert 'name="back" value="followers"' in body
    assert "Call to encourage" in body.split(f'id="restore-{cid}-off"')[1]
    response = post(c, f"/connections/{cid}/restore", {"back": "followers"}, HX)
    body = fragment(response, f'<tr id="connection-{cid}">')
    assert "1 of 1 caregivers receive your emergency alerts" in body
    live = body.split('id="flashes"')[1]
    assert 'hx-swap-oob="true"' in live
    assert "Caregiver 1 is connected to you again, as before the disconnect" in live
    assert "Call to encourage still off" in live
    assert permissions(app, cid) == {**ALL_ON, "encouragement": False}
    with app.app_context():
        assert outbox_since(first) == []


def test_restore_confirm_of_a_live_connection_goes_back_to_the_page(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    response = login(fam.patients[0]).get(f"/connections/{cid}/restore?back=followers")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/followers#connection-{cid}"


def test_restore_confirm_is_refused_to_the_caregiver_and_strangers(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    revoke(app, cid)
    caregiver, outsider = login(fam.caregivers[0]), login(stranger(app))
    before = counts(app)
    assert caregiver.get(f"/connections/{cid}/restore").status_code == 403
    assert outsider.get(f"/connections/{cid}/restore").status_code == 404
    assert counts(app) == before
