"""The connection controls on the group page (the admin's permission matrix): toggles
(BR-024, BR-018, BR-039), the silent disconnect and restore per connection and per caregiver
(BR-040, BR-056), the per-connection history — each as a page, an htmx fragment and a no-JS
redirect, and every refusal writes nothing."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from app.extensions import db
from app.membership.services import group_self_add, member_remove
from app.models.accounts import User
from app.models.connections import PERMISSION_CODES
from app.models.groups import FamilyGroup
from tests.connections.helpers import (
    accessible_name,
    build_family,
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
    connection_between,
    counts,
    outbox_last,
    outbox_since,
)

# --- the matrix on the group page -------------------------------------------------------


def test_matrix_is_grouped_by_patient_for_the_admin(family, login):
    fam = family(patients=2, caregivers=2)
    response = login(fam.admin).get(f"/family/{fam.id}")
    assert response.status_code == 200
    body = text(response)
    assert 'id="permissions"' in body
    for p, patient in enumerate(fam.patients):
        assert f'id="patient-{patient.id}-alerts"' in body
        assert f'<h3 id="patient-{patient.id}-heading">{patient.name}</h3>' in body
        # the patient's form holds the table: its switches post its CSRF token
        form = body.split(f'<form id="m{patient.id}" method="post" '
                          'action="/switch">')[1].split("</form>")[0]
        for c, caregiver in enumerate(fam.caregivers):
            cid = fam.cid[(p, c)]
            assert f'<tr id="connection-{cid}"' in body
            for code in PERMISSION_CODES:
                button = switch(body, cid, code)
                assert 'role="switch"' in button
                assert 'aria-checked="true"' in button
                assert f'value="{cid} {code} off"' in button  # what pressing it asks
                assert button in form
            name = accessible_name(body, switch(body, cid, "emergency_alert"))
            assert name == f"Receive emergency alerts — {caregiver.name} → {patient.name}"
            # on a phone, its label is drawn beside it: the permission's name
            assert 'data-l="Receive emergency alerts"' in switch(body, cid, "emergency_alert")
        assert 'name="csrf_token"' in form
        assert 'name="back"' not in form  # back to the group page, the default
    assert body.count("2 of 2 caregivers receive emergency alerts") == 2
    assert "Nobody receives" not in body
    # Column headers are the permission names in the reader's language.
    assert "View health overview" in body


def test_br029_matrix_names_the_caregiver_with_their_relationship(family, login):
    fam = family(patients=1, caregivers=1, relationship="con_gai")
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    assert ('<span class="relationship">Daughter</span> · <span class="name">Caregiver 1</span>'
            in body)


def test_br054_matrix_shows_the_name_alone_until_a_relationship_is_chosen(family, login):
    fam = family(patients=1, caregivers=1, relationship=None)
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    row = body.split(f'<tr id="connection-{fam.cid[(0, 0)]}"')[1].split("</th>")[0]
    assert '<span class="name">Caregiver 1</span>' in row
    assert 'class="relationship"' not in row


def test_matrix_is_for_the_admin_only(family, login):
    fam = family(patients=1, caregivers=1)
    for member in (fam.patients[0], fam.caregivers[0]):
        body = text(login(member).get(f"/family/{fam.id}"))
        assert 'id="permissions"' not in body
        assert "/permissions/" not in body
        assert "/disconnect" not in body


def test_matrix_warns_when_nobody_receives_a_patients_alerts(family, login, app):
    fam = family(patients=1, caregivers=1)
    set_permissions(app, fam.cid[(0, 0)], {"emergency_alert": False})
    body = text(login(fam.admin).get(f"/family/{fam.id}"))
    assert "0 of 1 caregivers receive emergency alerts" in body
    assert "Nobody receives Patient 1's emergency alerts." in body


def test_the_admin_who_follows_a_patient_controls_that_connection_as_admin(family, login,
                                                                          app):
    fam = family(patients=1, caregivers=0)
    with app.app_context():
        group_self_add(actor=db.session.get(User, fam.admin.id),
                       group=db.session.get(FamilyGroup, fam.id), role="caregiver")
        cid = connection_between(db.session.get(User, fam.patients[0].id),
                                 db.session.get(User, fam.admin.id)).id
        db.session.commit()
    c = login(fam.admin)
    body = text(c.get(f"/family/{fam.id}"))
    assert all(" disabled" not in switch(body, cid, code) for code in PERMISSION_CODES)
    assert f'id="caregiver-{fam.admin.id}-disconnect-link"' in body
    assert f"/family/{fam.id}/members/{fam.admin.id}/remove" not in body  # never themselves
    response = toggle(c, cid, "health_overview", "off", confirmed=True)
    assert response.status_code == 200
    assert permissions(app, cid)["health_overview"] is False


# --- toggles: ON applies at once (BR-024) -----------------------------------------------


def test_br024_toggle_on_applies_at_once_as_a_fragment(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    set_permissions(app, cid, {"health_overview": False})
    response = toggle(login(fam.admin), cid, "health_overview", "on")
    body = fragment(response, '<button role="switch" aria-checked="true"')
    assert f'value="{cid} health_overview off"' in body
    assert f'id="patient-{fam.patients[0].id}-alerts"' not in body  # the counter did not change
    # what changed, for the page's live region (out of band)
    assert ('<div id="flashes" class="flashes flashes-over" role="status" aria-live="polite" '
            'hx-swap-oob="true"><p class="flash flash-success">“View health overview” is on for '
            'Caregiver 1.</p></div>' in body)
    assert "HX-Request" in response.headers["Vary"]
    assert permissions(app, cid) == ALL_ON


def test_br024_toggle_on_without_js_redirects_with_a_flash(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    set_permissions(app, cid, {"task_config": False})
    c = login(fam.admin)
    response = toggle(c, cid, "task_config", "on", htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/family/{fam.id}#connection-{cid}"
    assert flashes(c) == ["“Configure tasks” is on for Caregiver 1."]
    assert permissions(app, cid) == ALL_ON


def test_br024_admin_turning_a_permission_on_tells_the_patient_in_app_only(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    set_permissions(app, cid, {"encouragement": False}, by=fam.patients[0].id)
    first = outbox_last(app)
    assert toggle(login(fam.admin), cid, "encouragement", "on").status_code == 200
    with app.app_context():
        rows = outbox_since(first)
        assert [(n.notification_type, n.channel, n.recipient_user_id) for n in rows] == [
            ("PERMISSION_ENABLED", "in_app", fam.patients[0].id)]
        assert rows[0].payload["permissions"] == ["encouragement"]


def test_toggling_back_and_forth_on_the_page_leaves_one_notice_per_net_change(family, login,
                                                                               app):
    fam = family(patients=1, caregivers=1)
    cid, patient = fam.cid[(0, 0)], fam.patients[0]
    set_permissions(app, cid, {"encouragement": False, "task_config": False}, by=patient.id)
    first, first_audit = outbox_last(app), audit_last(app)
    c = login(fam.admin)

    def notices():
        with app.app_context():
            return [n.payload["permissions"] for n in outbox_since(first)]

    for htmx in (True, False):
        toggle(c, cid, "encouragement", "on", htmx=htmx)
        toggle(c, cid, "encouragement", "off", confirmed=True, htmx=htmx)
    assert notices() == []  # back where it was: nothing to tell
    toggle(c, cid, "encouragement", "on")
    toggle(c, cid, "task_config", "on", htmx=False)
    assert notices() == [["task_config", "encouragement"]]  # one notice, updated
    with app.app_context():  # every toggle stays in the audit trail
        assert len(audit_since(first_audit, "connection.permission_changed")) == 6
    page = text(login(patient).get("/notifications"))
    assert page.count("Caregiver 1 can now do more for you") == 1


# --- toggles: OFF asks first (BR-024, BR-018) -------------------------------------------


def test_br024_toggle_off_asks_first_and_writes_nothing_until_confirmed(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.admin)
    before = counts(app)
    response = toggle(c, cid, "health_overview", "off")
    # in place of the switch: its still picture, and the step (focused, named by its question)
    body = fragment(response, '<span class="switch-ghost" aria-hidden="true" '
                              'data-l="View health overview"></span>'
                              '<div class="toggle-confirm confirm" '
                              f'id="connection-{cid}-health_overview" role="group" '
                              f'aria-labelledby="connection-{cid}-health_overview-question" '
                              'tabindex="-1" autofocus>')
    assert "Turn off “View health overview” for Caregiver 1?" in body
    assert 'name="confirmed" value="1"' in body
    assert "Turn off" in body
    assert (f'hx-get="/connections/{cid}/permissions/health_overview?back=group"' in body)
    assert "Keep it on" in body
    assert counts(app) == before
    assert permissions(app, cid) == ALL_ON

    first = audit_last(app)
    response = toggle(c, cid, "health_overview", "off", confirmed=True)
    assert response.status_code == 200
    assert 'aria-checked="false"' in switch(text(response), cid, "health_overview")
    assert permissions(app, cid) == ALL_ON | {"health_overview": False}
    with app.app_context():
        (event,) = audit_since(first)
        assert event.action == "connection.permission_changed"
        assert event.details["permission"] == "health_overview"
        assert (event.details["from"], event.details["to"], event.details["as"]) == (
            True, False, "admin")


def test_a_switch_of_the_matrix_posts_its_patients_form(family, login, app):
    """The matrix's buttons post set=<connection> <code> <on|off> with their patient's form:
    the same rules as one permission's URL, with and without htmx."""
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.admin)
    before = counts(app)
    # OFF asks first: the confirmation page without JavaScript, in place with htmx
    page = post(c, "/switch", {"set": f"{cid} task_config off"})
    assert page.status_code == 200
    assert "<html" in text(page)
    assert "Turn off “Configure tasks” for Caregiver 1?" in text(page)
    asked = post(c, "/switch", {"set": f"{cid} task_config off"}, HX)
    assert (f'<div class="toggle-confirm confirm" id="connection-{cid}-task_config" '
            in fragment(asked, '<span class="switch-ghost" '))
    assert counts(app) == before
    # confirmed, it applies; ON applies at once
    done = post(c, "/switch",
                {"set": f"{cid} task_config off", "confirmed": "1"})
    assert done.status_code == 303
    assert done.headers["Location"] == f"/family/{fam.id}#connection-{cid}"
    assert permissions(app, cid)["task_config"] is False
    back_on = post(c, "/switch", {"set": f"{cid} task_config on"}, HX)
    assert 'aria-checked="true"' in switch(text(back_on), cid, "task_config")
    assert permissions(app, cid) == ALL_ON
    # what no button of ours sends: 422, nothing written
    before = counts(app)
    for bad in ("", f"{cid} task_config", f"{cid} nope on", f"{cid} task_config maybe",
                f"x{cid} task_config on", "9" * 40 + " task_config on"):
        refused = post(c, "/switch", {"set": bad})
        assert refused.status_code == 422, bad
        assert "The request was not understood." in text(refused)
    assert counts(app) == before
    assert permissions(app, cid) == ALL_ON


def test_br024_toggle_off_without_js_is_a_confirmation_page(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.admin)
    before = counts(app)
    response = toggle(c, cid, "proxy_execution", "off", htmx=False)
    assert response.status_code == 200
    body = text(response)
    assert "<html" in body
    assert f'action="/connections/{cid}/permissions/proxy_execution"' in body
    assert 'name="confirmed" value="1"' in body
    assert f'href="/connections/{cid}/permissions/proxy_execution?back=group"' in body
    assert counts(app) == before
    response = toggle(c, cid, "proxy_execution", "off", confirmed=True, htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/family/{fam.id}#connection-{cid}"
    assert flashes(c) == ["“Act on the patient's behalf” is off for Caregiver 1."]
    assert permissions(app, cid)["proxy_execution"] is False


def test_keep_it_on_answers_the_toggle_or_goes_back_to_the_page(family, login):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.admin)
    url = f"/connections/{cid}/permissions/encouragement?back=group"
    fragment = c.get(url, headers=HX)
    assert fragment.status_code == 200
    assert "<html" not in text(fragment)
    assert 'aria-checked="true"' in switch(text(fragment), cid, "encouragement")
    page = c.get(url)
    assert page.status_code == 302
    assert page.headers["Location"] == f"/family/{fam.id}#connection-{cid}"


def test_br018_emergency_alert_off_warns_more_strongly(family, login, app):
    fam = family(patients=1, caregivers=2)
    c = login(fam.admin)
    cid = fam.cid[(0, 0)]
    plain = text(toggle(c, cid, "task_config", "off"))
    strong = text(toggle(c, cid, "emergency_alert", "off"))
    assert "confirm-strong" in strong
    assert "confirm-strong" not in plain
    assert ("Warning: if Patient 1 has an emergency, Caregiver 1 will not be alerted."
            in strong)
    assert "Stop sending Patient 1's emergency alerts to Caregiver 1?" in strong
    assert "will not be alerted" not in plain
    # Caregiver 2 still receives them: no "nobody" warning yet.
    assert "nobody will be alerted" not in strong
    assert permissions(app, cid) == ALL_ON


def test_br018_emergency_alert_off_says_when_nobody_would_be_alerted(family, login, app):
    fam = family(patients=1, caregivers=2)
    set_permissions(app, fam.cid[(0, 1)], {"emergency_alert": False})
    cid = fam.cid[(0, 0)]
    body = text(toggle(login(fam.admin), cid, "emergency_alert", "off"))
    assert ("Nobody else receives Patient 1's emergency alerts: after this, nobody will be "
            "alerted." in body)
    assert permissions(app, cid)["emergency_alert"] is True


def test_br018_emergency_alert_toggle_updates_the_counter_out_of_band(family, login, app):
    fam = family(patients=1, caregivers=2)
    cid, patient = fam.cid[(0, 0)], fam.patients[0]
    body = text(toggle(login(fam.admin), cid, "emergency_alert", "off", confirmed=True))
    assert body.lstrip().startswith('<button role="switch" aria-checked="false"')
    assert f'value="{cid} emergency_alert on"' in body
    oob = body.split(f'id="patient-{patient.id}-alerts" hx-swap-oob="true">')[1]
    assert "1 of 2 caregivers receive emergency alerts" in oob
    assert permissions(app, cid)["emergency_alert"] is False


# --- refusals ---------------------------------------------------------------------------


def test_br039_last_permission_is_refused_with_409_and_nothing_written(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    set_permissions(app, cid, ALL_OFF | {"encouragement": True})
    c = login(fam.admin)
    before = counts(app)
    for confirmed in (True, False):  # refused before the confirmation step too
        response = toggle(c, cid, "encouragement", "off", confirmed=confirmed)
        assert response.status_code == 409
        body = text(response)
        assert "<html" not in body
        assert 'aria-checked="true"' in switch(body, cid, "encouragement")
        assert '<p class="error toggle-error" role="alert">' in body
        assert "use “Disconnect” instead" in body
        assert f'href="/connections/{cid}/disconnect?back=group"' in body
        # a panel over the page: Close brings the switch back alone
        assert f'hx-get="/connections/{cid}/permissions/encouragement">Close</button>' in body
    response = toggle(c, cid, "encouragement", "off", confirmed=True, htmx=False)
    assert response.status_code == 303
    assert "use “Disconnect” instead" in flashes(c)[0]
    assert counts(app) == before
    assert permissions(app, cid)["encouragement"] is True


def test_br040_a_disconnected_connection_cannot_be_toggled(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    revoke(app, cid)
    c = login(fam.admin)
    page = text(c.get(f"/family/{fam.id}"))
    for code in PERMISSION_CODES:
        button = switch(page, cid, code)
        assert " disabled" in button
        assert f'aria-describedby="connection-{cid}-hint"' in button
    assert f'id="connection-{cid}-hint">Restore to change permissions<' in page
    before = counts(app)
    response = toggle(c, cid, "health_overview", "on")
    assert response.status_code == 409
    assert "Restore the connection before changing its permissions." in text(response)
    assert counts(app) == before
    assert permissions(app, cid) == ALL_OFF


def test_an_unknown_permission_code_is_404(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.admin)
    before = counts(app)
    assert toggle(c, cid, "launch_rockets", "on").status_code == 404
    assert counts(app) == before


@pytest.mark.parametrize("enabled", ["maybe", "", "ON"])
def test_a_bad_enabled_value_is_422_with_a_clear_message(family, login, app, enabled):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.admin)
    before = counts(app)
    page = toggle(c, cid, "health_overview", enabled, htmx=False)
    assert page.status_code == 422
    assert "is turned “on” or “off”" in text(page) or "Say whether" in text(page)
    fragment = toggle(c, cid, "health_overview", enabled)
    assert fragment.status_code == 422
    assert "<html" not in text(fragment)
    assert 'role="alert"' in text(fragment)
    assert counts(app) == before


def test_an_id_that_does_not_exist_is_404_not_500(family, login):
    fam = family(patients=1, caregivers=1)
    c = login(fam.admin)
    assert toggle(c, 10**12, "health_overview", "on").status_code == 404
    assert c.get("/connections/99999999999999999999/history").status_code == 404
    assert c.get(f"/connections/{10**12}/disconnect").status_code == 404


# --- silent disconnect and restore, per connection (BR-040, BR-056) ---------------------


def test_br056_disconnect_asks_with_a_private_reason(family, login):
    fam = family(patients=1, caregivers=2)
    cid = fam.cid[(0, 0)]
    response = login(fam.admin).get(f"/connections/{cid}/disconnect?back=group")
    assert response.status_code == 200
    body = text(response)
    assert "<html" in body
    assert "Disconnect Caregiver 1 from Patient 1?" in body
    assert '<textarea' in body
    assert 'name="reason"' in body
    assert "It is never shown to the caregiver." in body
    assert "nobody receiving emergency alerts" not in body  # Caregiver 2 still gets them
    inline = text(login(fam.admin).get(f"/connections/{cid}/disconnect?back=group", headers=HX))
    assert "<html" not in inline
    assert f'hx-post="/connections/{cid}/disconnect" hx-target="#connection-{cid}"' in inline


def test_br018_disconnect_warns_before_leaving_a_patient_with_nobody_alerted(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.admin)
    before = counts(app)
    body = text(c.get(f"/connections/{cid}/disconnect"))
    assert "Patient 1 will have nobody receiving emergency alerts." in body
    assert counts(app) == before
    assert not is_revoked(app, cid)


def test_br056_disconnect_without_js_is_silent_and_audits_the_reason(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.admin)
    before, first_audit = counts(app), audit_last(app)
    response = post(c, f"/connections/{cid}/disconnect",
                    {"reason": "Không còn chăm sóc", "back": "group"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/family/{fam.id}#connection-{cid}"
    assert flashes(c) == ["Caregiver 1 is disconnected from Patient 1. They were not told."]
    after = counts(app)
    assert after["outbox"] == before["outbox"]  # nothing sent to anyone
    assert after["members"] == before["members"]
    assert after["connections"] == before["connections"]
    assert is_revoked(app, cid)
    assert permissions(app, cid) == ALL_OFF
    with app.app_context():
        (event,) = audit_since(first_audit)
        assert event.action == "connection.disconnected"
        assert event.details["reason"] == "Không còn chăm sóc"
        assert event.actor_id == fam.admin.id
    page = text(c.get(f"/family/{fam.id}"))
    assert f'id="connection-{cid}-revoked">Disconnected<' in page
    assert f'id="connection-{cid}-restore"' in page


def test_br056_disconnect_for_htmx_swaps_the_row_and_the_counter(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid, patient = fam.cid[(0, 0)], fam.patients[0]
    before = counts(app)
    response = post(login(fam.admin), f"/connections/{cid}/disconnect", {"back": "group"}, HX)
    body = fragment(response, f'<tr id="connection-{cid}" class="is-revoked">')
    assert "Disconnected" in body
    oob = body.split(f'id="patient-{patient.id}-alerts" hx-swap-oob="true">')[1]
    assert "0 of 1 caregivers receive emergency alerts" in oob
    assert "Nobody receives Patient 1's emergency alerts." in oob
    assert counts(app)["outbox"] == before["outbox"]
    assert is_revoked(app, cid)


def test_the_answers_to_a_disconnect_and_a_restore_say_what_changed(family, login, app):
    """With htmx, the page's live region (#flashes, out of band) says what changed, as the
    flash does after a plain post."""
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.admin)
    live_region = ('<div id="flashes" class="flashes flashes-over" role="status" '
                   'aria-live="polite" hx-swap-oob="true"><p class="flash flash-success">')
    body = text(post(c, f"/connections/{cid}/disconnect", {"back": "group"}, HX))
    said = body.split(live_region)[1]
    assert said.startswith("Caregiver 1 is disconnected from Patient 1. They were not told.</p>")
    body = text(post(c, f"/connections/{cid}/restore", {"back": "group"}, HX))
    said = body.split(live_region)[1]
    assert said.startswith("Caregiver 1 is connected to Patient 1 again, as before the "
                           "disconnect: View health overview, Receive emergency alerts, "
                           "Configure tasks, Track compliance, Act on the patient's behalf, "
                           "Call to encourage on. They were not told.</p>")
    assert not is_revoked(app, cid)


def test_a_too_long_reason_is_422_and_writes_nothing(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(fam.admin)
    before = counts(app)
    page = post(c, f"/connections/{cid}/disconnect", {"reason": "x" * 501})
    assert page.status_code == 422
    assert "<html" in text(page)
    assert "500" in text(page)
    fragment = post(c, f"/connections/{cid}/disconnect", {"reason": "x" * 501}, HX)
    assert fragment.status_code == 422
    assert fragment.headers["HX-Retarget"] == f"#disconnect-{cid}"
    assert "<html" not in text(fragment)
    assert counts(app) == before
    assert not is_revoked(app, cid)


def test_br040_restore_brings_back_the_permissions_as_they_were_silently(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    narrowed = {**ALL_ON, "task_config": False, "proxy_execution": False}
    set_permissions(app, cid, {"task_config": False, "proxy_execution": False})
    revoke(app, cid)
    c = login(fam.admin)
    page = text(c.get(f"/family/{fam.id}"))
    assert (f'<a href="/connections/{cid}/restore" hx-get="/connections/{cid}/restore" '
            f'id="connection-{cid}-restore"') in page
    before = counts(app)
    response = post(c, f"/connections/{cid}/restore", {"back": "group"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/family/{fam.id}#connection-{cid}"
    assert flashes(c) == [
        "Caregiver 1 is connected to Patient 1 again, as before the disconnect: View health "
        "overview, Receive emergency alerts, Track compliance, Call to encourage on; "
        "Configure tasks, Act on the patient's behalf still off. They were not told."]
    assert permissions(app, cid) == narrowed  # the two the admin had turned off stay off
    assert not is_revoked(app, cid)
    assert counts(app)["outbox"] == before["outbox"]
    # htmx: the row comes back live with the same four ON, the counter and what happened
    # out of band.
    revoke(app, cid)
    body = text(post(c, f"/connections/{cid}/restore", {"back": "group"}, HX))
    assert body.lstrip().startswith(f'<tr id="connection-{cid}">')
    for code, on in narrowed.items():
        assert f'aria-checked="{"true" if on else "false"}"' in switch(body, cid, code)
    assert "1 of 1 caregivers receive emergency alerts" in body
    announced = body.split('<div id="flashes"')[1]
    assert 'hx-swap-oob="true"' in announced
    assert "as before the disconnect" in announced
    assert "They were not told." in announced
    assert permissions(app, cid) == narrowed
    assert counts(app)["outbox"] == before["outbox"]


def test_br040_restore_asks_first_naming_the_permissions(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    set_permissions(app, cid, {"emergency_alert": False})
    revoke(app, cid)
    c = login(fam.admin)
    before = counts(app)
    page = c.get(f"/connections/{cid}/restore")
    assert page.status_code == 200
    body = text(page)
    assert "<html" in body
    assert "<h1>Restore a caregiver</h1>" in body
    assert "Give Caregiver 1 access to Patient 1 again?" in body
    on = body.split(f'id="restore-{cid}-on"')[1].split("</ul>")[0]
    off = body.split(f'id="restore-{cid}-off"')[1].split("</ul>")[0]
    assert on.count("<li>") == 5
    assert "Receive emergency alerts" not in on
    assert off.count("<li>") == 1
    assert "Receive emergency alerts" in off
    assert "Caregiver 1 is not told." in body
    assert f'<form method="post" action="/connections/{cid}/restore">' in body
    assert 'name="back" value="group"' in body
    assert f'href="/family/{fam.id}#connection-{cid}"' in body  # cancel
    # htmx: the same step inline, in the row's actions cell; its answer replaces the row.
    inline = fragment(c.get(f"/connections/{cid}/restore", headers=HX),
                      f'<div class="confirm restore-confirm" id="restore-{cid}" role="group"')
    assert 'autofocus' in inline
    assert (f'hx-post="/connections/{cid}/restore" hx-target="#connection-{cid}" '
            'hx-swap="outerHTML"') in inline
    assert counts(app) == before  # asking writes nothing
    assert is_revoked(app, cid)


# --- per caregiver (the admin) ----------------------------------------------------------


def test_br040_disconnect_a_caregiver_from_every_patient_and_restore(family, login, app):
    fam = family(patients=2, caregivers=2)
    caregiver = fam.caregivers[0]
    mine = [fam.cid[(0, 0)], fam.cid[(1, 0)]]
    others = [fam.cid[(0, 1)], fam.cid[(1, 1)]]
    c = login(fam.admin)
    page = text(c.get(f"/family/{fam.id}"))
    assert f'id="caregiver-{caregiver.id}-disconnect-link"' in page
    assert f'id="caregiver-{caregiver.id}-restore"' not in page
    url = f"/family/{fam.id}/caregivers/{caregiver.id}/disconnect"
    confirm = c.get(url)
    assert confirm.status_code == 200
    assert "Disconnect Caregiver 1 from every patient of “Gia đình Nguyễn”?" in text(confirm)
    assert "nobody receiving" not in text(confirm)
    before, first_audit = counts(app), audit_last(app)
    response = post(c, url, {"reason": "tạm dừng"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/family/{fam.id}"
    assert flashes(c) == ["Caregiver 1 is disconnected from every patient of this family. "
                          "They were not told."]
    assert [is_revoked(app, cid) for cid in mine + others] == [True, True, False, False]
    assert all(permissions(app, cid) == ALL_OFF for cid in mine)
    assert counts(app)["outbox"] == before["outbox"]
    with app.app_context():
        events = audit_since(first_audit, "connection.disconnected")
        assert {e.subject_id for e in events} == set(mine)
        assert all(e.details["reason"] == "tạm dừng" and e.details["scope"] == "caregiver"
                   for e in events)
    page = text(c.get(f"/family/{fam.id}"))
    assert f'id="caregiver-{caregiver.id}-restore"' in page
    response = post(c, f"/family/{fam.id}/caregivers/{caregiver.id}/restore", headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/family/{fam.id}"
    assert all(permissions(app, cid) == ALL_ON and not is_revoked(app, cid) for cid in mine)
    assert counts(app)["outbox"] == before["outbox"]


def test_br018_caregiver_disconnect_names_the_patients_left_without_alerts(family, login, app):
    fam = family(patients=2, caregivers=2)
    set_permissions(app, fam.cid[(0, 1)], {"emergency_alert": False})  # Patient 1: only C1
    c = login(fam.admin)
    before = counts(app)
    url = f"/family/{fam.id}/caregivers/{fam.caregivers[0].id}/disconnect"
    for headers in (None, HX):
        body = text(c.get(url, headers=headers))
        assert "Patient 1 will have nobody receiving emergency alerts." in body
        assert "Patient 2 will have nobody" not in body
    assert counts(app) == before


def test_caregiver_disconnect_reason_too_long_is_422(family, login, app):
    fam = family(patients=1, caregivers=1)
    c = login(fam.admin)
    before = counts(app)
    response = post(c, f"/family/{fam.id}/caregivers/{fam.caregivers[0].id}/disconnect",
                    {"reason": "x" * 501})
    assert response.status_code == 422
    assert counts(app) == before


# --- who may: a caregiver, a stranger, another family's admin ---------------------------


def _intruders(app, fam) -> dict[str, tuple[SimpleNamespace, int]]:
    """Each intruder with the status a toggle answers them."""
    other = build_family(app, patients=0, caregivers=0)
    return {"caregiver": (fam.caregivers[0], 403), "stranger": (stranger(app), 404),
            "other_admin": (other.admin, 404)}


@pytest.mark.parametrize("who", ["caregiver", "stranger", "other_admin"])
def test_sec_only_the_admin_and_the_patient_control_a_connection(family, login, app, who):
    fam = family(patients=2, caregivers=2)
    live, revoked = fam.cid[(0, 0)], fam.cid[(1, 0)]  # both Caregiver 1's
    revoke(app, revoked)
    intruder, status = _intruders(app, fam)[who]
    c = login(intruder)
    before = counts(app)
    maps = (permissions(app, live), permissions(app, revoked))
    assert toggle(c, live, "health_overview", "off", confirmed=True).status_code == status
    assert toggle(c, live, "health_overview", "off").status_code == status
    # The caregiver hears "not yours to change", never "disconnected".
    response = toggle(c, revoked, "health_overview", "on")
    assert response.status_code == status
    assert "isconnected" not in text(response)
    assert "isconnected" not in " ".join(flashes(c))
    refused = post(c, f"/connections/{live}/disconnect", {"reason": "x"}, HX)
    assert refused.status_code == status
    assert refused.headers["HX-Redirect"]
    assert post(c, f"/connections/{revoked}/restore", {}, HX).status_code == status
    assert c.get(f"/connections/{live}/disconnect").status_code == status
    assert c.get(f"/connections/{live}/permissions/health_overview").status_code == status
    # The caregiver never learns about a disconnect: the history is a 404 for them too.
    assert c.get(f"/connections/{revoked}/history").status_code == 404
    caregiver_url = f"/family/{fam.id}/caregivers/{fam.caregivers[1].id}"
    member_status = 403 if who == "caregiver" else 404
    assert c.get(f"{caregiver_url}/disconnect").status_code == member_status
    assert post(c, f"{caregiver_url}/disconnect", {}, HX).status_code == member_status
    assert post(c, f"{caregiver_url}/restore", {}, HX).status_code == member_status
    assert counts(app) == before
    assert (permissions(app, live), permissions(app, revoked)) == maps
    assert is_revoked(app, revoked)
    assert not is_revoked(app, live)


def test_a_refusal_without_js_is_a_redirect_with_a_flash(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    c = login(stranger(app))
    before = counts(app)
    response = toggle(c, cid, "health_overview", "off", confirmed=True, htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"] == "/family"
    assert flashes(c) == ["This connection does not exist or has ended."]
    assert counts(app) == before


def test_a_connection_that_ended_is_no_longer_controlled(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = fam.cid[(0, 0)]
    with app.app_context():
        member_remove(actor=db.session.get(User, fam.admin.id),
                      group=db.session.get(FamilyGroup, fam.id),
                      user_id=fam.caregivers[0].id, role="caregiver")
        db.session.commit()
    c = login(fam.admin)
    before = counts(app)
    assert toggle(c, cid, "health_overview", "on").status_code == 404
    assert post(c, f"/connections/{cid}/restore", {}, HX).status_code == 404
    assert counts(app) == before
    body = text(c.get(f"/connections/{cid}/history"))
    assert "The connection ended: a member was removed from the family." in body


# --- history ----------------------------------------------------------------------------


def _story(app, fam) -> int:
    """A connection with a change of each kind: off, disconnect with a reason, restore."""
    cid = fam.cid[(0, 0)]
    set_permissions(app, cid, {"task_config": False})
    revoke(app, cid, reason="Lý do riêng")
    with app.app_context():
        from app.connections.control import connection_restore

        connection_restore(actor=db.session.get(User, fam.admin.id), connection_id=cid)
        db.session.commit()
    return cid


def test_history_tells_the_admin_the_whole_story(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = _story(app, fam)
    response = login(fam.admin).get(f"/connections/{cid}/history")
    assert response.status_code == 200
    body = text(response)
    actions = re.findall(r'data-action="([a-z_.]+)"', body)
    assert actions[:2] == ["invite.created", "invite.accepted"]
    assert actions[2:] == ["connection.created", "connection.permission_changed",
                           "connection.disconnected", "connection.restored"]
    assert "Sent the invite to join as caregiver." in body
    assert "Connected: Caregiver 1 follows Patient 1." in body
    assert "Turned “Configure tasks” off (it was on)." in body
    assert "Disconnected Caregiver 1 from Patient 1. Nobody was told." in body
    # The restore names what came back, in display order: task_config stayed off.
    assert ("Restored the connection as before the disconnect: View health overview, "
            "Receive emergency alerts, Track compliance, Act on the patient's behalf, Call to "
            "encourage on.") in body
    assert "Lý do riêng" in body  # its author sees the reason
    assert f'href="/family/{fam.id}"' in body


def test_history_tells_a_restore_written_before_issue_18_as_it_was(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = _story(app, fam)
    with app.app_context():
        [restored] = audit_since(action="connection.restored")
        restored.details = {k: v for k, v in restored.details.items() if k != "permissions"}
        db.session.commit()
    body = text(login(fam.admin).get(f"/connections/{cid}/history"))
    assert "Restored the connection: every permission is on again." in body
    assert "as before the disconnect" not in body


def test_history_hides_the_admins_reason_from_the_patient(family, login, app):
    fam = family(patients=1, caregivers=1)
    cid = _story(app, fam)
    response = login(fam.patients[0]).get(f"/connections/{cid}/history")
    assert response.status_code == 200
    body = text(response)
    assert "Disconnected Caregiver 1 from Patient 1. Nobody was told." in body
    assert "Turned “Configure tasks” off (it was on)." in body
    assert "Lý do riêng" not in body
    assert "Private reason" not in body


def test_history_is_a_404_for_the_caregiver_and_strangers(family, login, app):
    fam = family(patients=1, caregivers=2)
    cid = _story(app, fam)
    for who in (fam.caregivers[0], fam.caregivers[1], stranger(app)):
        assert login(who).get(f"/connections/{cid}/history").status_code == 404
