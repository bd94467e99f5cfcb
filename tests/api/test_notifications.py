"""GET /notifications: the caller's in-app messages, never the sealed invite token."""

from __future__ import annotations

from tests.api import family, invite, person, refused


def test_in_app_notifications(app, client):
    admin, other = person(app, client), person(app, client)
    invitee = person(app, client, phone="+84987000001", locale="en")
    group_id = family(app, admin, name="Nhà Lan")
    invite_id, token = invite(app, admin, group_id, "0987000001")
    response = invitee.api.get("/notifications")
    assert response.status_code == 200
    [item] = response.get_json()["items"]
    assert item["type"] == "INVITE_CREATED"
    assert item["read"] is False
    assert item["groupId"] == group_id
    assert item["createdAt"].endswith("Z")
    assert item["payload"]["group_name"] == "Nhà Lan"
    assert "sealed_token" not in item["payload"]
    assert token not in response.get_data(as_text=True)
    assert "Nhà Lan" in item["text"]
    assert "invites you" in item["text"]
    assert other.api.get("/notifications").get_json()["items"] == []
    # the admin hears about the reject
    assert invitee.api.post(f"/invites/{invite_id}/reject").status_code == 200
    [told] = admin.api.get("/notifications").get_json()["items"]
    assert told["type"] == "INVITE_REJECTED"


def test_notifications_limit(app, client):
    user = person(app, client)
    assert user.api.get("/notifications?limit=200").status_code == 200
    refused(user.api.get("/notifications?limit=201"), 422, "invalid")
