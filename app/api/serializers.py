"""The API's objects (SPEC §7): camelCase keys, ids as numbers, times ISO 8601 UTC "Z".

Pure functions over rows already loaded: no queries here, so a route's query count is
decided by what it loads, never by what it serialises.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from app.connections.queries import enabled_codes, private_details
from app.invites.links import accept_url
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.connections import PERMISSION_CODES, Connection
from app.models.groups import FamilyGroup, FamilyGroupMember
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.models.reports import PatientReport
from app.notifications.messages import render_message
from app.payments.provider import SubscriptionInfo

# Payload keys that never leave the server (the sealed invite token, SPEC §4).
HIDDEN_PAYLOAD_KEYS = frozenset({"sealed_token"})


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user_json(user: User, *, roles: Iterable[tuple[int, str]], private: bool) -> dict[str, Any]:
    """roles: (family id, patient | caregiver | admin) pairs the caller may see.
    private: phone and email are shown (the user, the group's admin, staff); otherwise
    the keys are left out."""
    roles = sorted(set(roles))
    # A deleted account (issue 19) reads "deleted user #id", as on the pages.
    answer: dict[str, Any] = {"id": user.id, "name": user.shown_name}
    if private:
        answer.update(phone=user.phone, phoneVerified=user.phone_proved, email=user.email,
                      emailVerified=user.email_proved)
    answer.update(gender=user.gender_name, locale=user.locale,
                  familyIds=sorted({family_id for family_id, _role in roles}),
                  roles=[{"familyId": family_id, "role": role} for family_id, role in roles])
    return answer


def member_json(member: FamilyGroupMember, user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.shown_name, "gender": user.gender_name,
            "joinedAt": iso(member.joined_at)}


def family_json(group: FamilyGroup, members: list[tuple[FamilyGroupMember, User]], *,
                private: bool = False, invites: list[ConnectionInvite] | None = None,
                slots: dict | None = None) -> dict[str, Any]:
    """private: add invites and slots (the admin and staff); slots None = the payment
    service could not be asked."""
    patients = [member_json(m, u) for m, u in members if m.role == "patient"]
    caregivers = [member_json(m, u) for m, u in members if m.role == "caregiver"]
    answer = {
        "id": group.id, "name": group.name, "status": group.status,
        "adminId": group.admin_user_id, "subscriptionId": group.subscription_id,
        "patientIds": [p["id"] for p in patients],
        "caregiverIds": [c["id"] for c in caregivers],
        "patients": patients, "caregivers": caregivers,
        "createdAt": iso(group.created_at), "updatedAt": iso(group.updated_at),
    }
    if private:
        answer["invites"] = [invite_json(i) for i in invites or []]
        answer["slots"] = slots
    return answer


def invite_json(invite: ConnectionInvite, *, token: str | None = None) -> dict[str, Any]:
    """token: the link token in clear, for the admin who just created or resent it."""
    answer = {
        "id": invite.id, "familyId": invite.family_group_id, "phone": invite.receiver_phone,
        "role": invite.role, "inviteType": invite.invite_type, "status": invite.shown_status(),
        "expiresAt": iso(invite.expires_at), "createdAt": iso(invite.created_at),
    }
    if token is not None:
        answer["acceptUrl"] = accept_url(token)
    return answer


def membership_json(member: FamilyGroupMember) -> dict[str, Any]:
    return {"familyId": member.group_id, "userId": member.user_id, "role": member.role,
            "joinedAt": iso(member.joined_at)}


def connection_json(connection: Connection, users: dict[int, User], *,
                    viewer: User) -> dict[str, Any]:
    """users: the patient and caregiver by id (loaded with the connections).
    viewer: the caller. For the connection's caregiver the `revoked` key is left out: a
    silent disconnect is never announced to them (BR-040); they see their permissions,
    all false. Permissions are what the connection grants now (none when revoked)."""
    enabled = enabled_codes(connection)

    def party(user_id: int | None) -> dict[str, Any]:
        user = users.get(user_id)
        return {"id": user_id, "name": user.shown_name if user else None}

    answer = {
        "id": connection.id, "familyId": connection.family_group_id,
        "patient": party(connection.user_id), "caregiver": party(connection.linked_user_id),
        "relationship": connection.relationship_code,
        "inverseRelationship": connection.inverse_relationship_code,
        "revoked": connection.permission_revoked,
        "consentWithdrawn": connection.consent_withdrawn_at is not None,
        "permissions": {code: code in enabled for code in PERMISSION_CODES},
    }
    if viewer.id == connection.linked_user_id:
        del answer["revoked"], answer["consentWithdrawn"]
    return answer


def subscription_json(info: SubscriptionInfo) -> dict[str, Any]:
    return {"subscriptionId": info.subscription_id, "status": info.effective_status,
            "plan": info.plan,
            "slots": {"patient": info.patient_slots, "caregiver": info.caregiver_slots},
            "expiresAt": iso(info.expires_at)}


def audit_json(event: AuditEvent, *, viewer: User) -> dict[str, Any]:
    """details as the viewer may read them: a disconnect's private reason (and a staff
    member's free-text reason) only for staff and for its author. What staff did names no
    staff member but to staff (issue 21): the family sees that staff looked, not who."""
    subject = ({"type": event.subject_type, "id": event.subject_id}
               if event.subject_type is not None else None)
    hidden = event.action.startswith("staff.") and not viewer.is_staff \
        and event.actor_id != viewer.id
    return {"at": iso(event.created_at), "actorId": None if hidden else event.actor_id,
            "action": event.action,
            "subject": subject, "details": private_details(event, viewer)}


def report_json(report: PatientReport, *, read: bool | None) -> dict[str, Any]:
    """read: whether the calling caregiver opened it before; None for the patient."""
    return {"id": report.id, "patientId": report.patient_id, "period": report.period,
            "summary": report.summary, "createdAt": iso(report.created_at), "read": read}


def notification_json(row: InviteNotification, locale: str) -> dict[str, Any]:
    subject, text = render_message(row, locale)
    payload = {k: v for k, v in (row.payload or {}).items() if k not in HIDDEN_PAYLOAD_KEYS}
    return {"id": row.id, "type": row.notification_type, "createdAt": iso(row.created_at),
            "read": row.status == "delivered", "groupId": row.family_group_id,
            "payload": payload, "subject": subject, "text": text}


# --- staff (/api/v1/staff) ------------------------------------------------------------------


def staff_invite_json(invite: ConnectionInvite) -> dict[str, Any]:
    """An invite as staff see it: who sent it and, once known, who received it."""
    return {**invite_json(invite), "senderId": invite.sender_id,
            "receiverId": invite.receiver_id}


def outbox_json(row: InviteNotification) -> dict[str, Any]:
    """An outbox row as staff see it: its delivery state per channel. The payload stays on
    the server (it may carry the sealed invite token)."""
    return {"id": row.id, "inviteId": row.invite_id, "familyId": row.family_group_id,
            "type": row.notification_type, "channel": row.channel,
            "recipient": row.recipient, "recipientUserId": row.recipient_user_id,
            "status": row.status, "retryCount": row.retry_count, "error": row.error,
            "sentAt": iso(row.sent_at), "deliveredAt": iso(row.delivered_at),
            "nextAttemptAt": iso(row.next_attempt_at), "createdAt": iso(row.created_at),
            "updatedAt": iso(row.updated_at)}


def sign_in_json(sign_in: Any) -> dict[str, Any]:
    """app.staff.queries.SignIn: suspended or not, last login, live tokens, recent failures."""
    return {"active": sign_in.active, "lastLoginAt": iso(sign_in.last_login_at),
            "tokensLive": sign_in.tokens_live, "failed24h": sign_in.failed_24h,
            "lastFailedAt": iso(sign_in.last_failed_at)}


def group_brief_json(group: FamilyGroup) -> dict[str, Any]:
    return {"id": group.id, "name": group.name, "status": group.status,
            "adminId": group.admin_user_id}


def person_json(user: User) -> dict[str, Any]:
    """Another party named in a staff answer (staff see phones)."""
    return {"id": user.id, "name": user.shown_name, "phone": user.phone}


def flag_json(flag: Any) -> dict[str, Any]:
    """A flagged item of the review queue (app.staff.signals.Flag)."""
    return {"signal": flag.signal, "key": flag.key, "level": flag.level, "title": flag.title}


def reviewed_json(item: Any) -> dict[str, Any]:
    """A recently reviewed item of the queue (app.staff.signals.Reviewed): its level when
    reviewed and now (null: no longer flagged)."""
    return {"signal": item.signal.name, "key": item.key, "title": item.title,
            "level": item.level, "levelNow": item.level_now, "note": item.note,
            "reviewer": item.reviewer, "reviewedAt": iso(item.at)}


def review_json(review: Any) -> dict[str, Any]:
    """A staff review of a flagged item (app.models.staff.StaffReview)."""
    return {"id": review.id, "signal": review.signal, "key": review.subject_key,
            "level": review.level, "note": review.note, "reviewedBy": review.reviewed_by,
            "createdAt": iso(review.created_at)}
