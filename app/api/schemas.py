"""JSON Schemas (2020-12, as OpenAPI 3.1 reads them) of the objects app/api/serializers.py
makes, one component each; app/api/openapi.py puts them in the document.

Kept beside the serializers and strict (no key that is not listed), so a serializer
that gains or loses a key fails the API tests, which check every answer against the
document, until this file says the same.
"""

from __future__ import annotations

from typing import Any

from app.accounts.services import LOCALES
from app.models.connections import PERMISSION_CODES
from app.models.groups import ROLES
from app.models.invites import INVITE_STATUSES
from app.models.notifications import STATUSES as OUTBOX_STATUSES

Schema = dict[str, Any]

INT: Schema = {"type": "integer"}
INT_OR_NULL: Schema = {"type": ["integer", "null"]}
STR: Schema = {"type": "string"}
STR_OR_NULL: Schema = {"type": ["string", "null"]}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}
TIME_OR_NULL: Schema = {"type": ["string", "null"], "format": "date-time"}
GENDER: Schema = {"enum": ["male", "female", None]}
GROUP_STATUS: Schema = {"type": "string", "enum": ["active", "inactive", "dissolved"]}
ROLE: Schema = {"type": "string", "enum": list(ROLES)}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None,
        description: str = "") -> Schema:
    """A closed object: these keys and no other."""
    schema: Schema = {"type": "object", "properties": {**required, **(optional or {})},
                      "required": list(required), "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def extend(base: Schema, required: dict[str, Schema] | None = None,
           optional: dict[str, Schema] | None = None, description: str = "") -> Schema:
    """base with more keys (a copy: components stay independent)."""
    return obj({**{k: base["properties"][k] for k in base["required"]}, **(required or {})},
               {**{k: v for k, v in base["properties"].items() if k not in base["required"]},
                **(optional or {})}, description or base.get("description", ""))


def items_of(name: str, **more: Schema) -> Schema:
    return obj({"items": array(ref(name)), **more})


SLOT = obj({"total": INT, "used": INT, "pending": INT, "free": INT})
MEMBER = obj({"id": INT, "name": STR, "gender": GENDER, "joinedAt": TIME})
PARTY = obj({"id": INT_OR_NULL, "name": STR_OR_NULL})

USER = obj(
    {"id": INT, "name": STR, "gender": GENDER, "locale": {"type": "string", "enum": list(LOCALES)},
     "familyIds": array(INT),
     "roles": array(obj({"familyId": INT,
                         "role": {"type": "string", "enum": [*ROLES, "admin"]}}))},
    {"phone": {**STR_OR_NULL,
               "description": "null once someone else proved the number (ID-001)"},
     "phoneVerified": {**BOOL, "description": "whether the phone proved the number (ID-001)"},
     "email": {**STR_OR_NULL, "description": "an address that counts only when emailVerified "
               "(issue 21); one waiting for its link is not shown here"},
     "emailVerified": {**BOOL, "description": "whether a link sent to the address came back "
                       "(issue 21): only then does it open a login and receive messages"},
     "families": array(ref("FamilyWithRole"))},
    "phone, phoneVerified, email and emailVerified only for the user, the admin of a family "
    "they are in, and staff; families only with ?expand=families.")

FAMILY = obj(
    {"id": INT, "name": STR_OR_NULL, "status": GROUP_STATUS, "adminId": INT,
     "subscriptionId": INT_OR_NULL, "patientIds": array(INT), "caregiverIds": array(INT),
     "patients": array(MEMBER), "caregivers": array(MEMBER),
     "createdAt": TIME, "updatedAt": TIME_OR_NULL},
    {"invites": array(ref("Invite")),
     "slots": {"oneOf": [obj({"patient": SLOT, "caregiver": SLOT}), {"type": "null"}],
               "description": "null when the payment service does not answer"}},
    "invites and slots for the family's admin and staff only.")

INVITE = obj(
    {"id": INT, "familyId": INT, "phone": STR, "role": ROLE,
     "inviteType": {"type": "string", "enum": ["add_patient", "add_caregiver"]},
     "status": {"type": "string", "enum": list(INVITE_STATUSES)},
     "expiresAt": TIME, "createdAt": TIME},
    {"acceptUrl": {"type": "string", "format": "uri",
                   "description": "only in the answer to the admin who created or resent it"}})

CONNECTION = obj(
    {"id": INT, "familyId": INT_OR_NULL, "patient": PARTY, "caregiver": PARTY,
     "relationship": STR_OR_NULL, "inverseRelationship": STR_OR_NULL,
     "permissions": obj({code: BOOL for code in PERMISSION_CODES})},
    {"revoked": {**BOOL, "description": "left out for the connection's caregiver (BR-040)"},
     "consentWithdrawn": {**BOOL, "description": "the patient withdrew consent: only the "
                          "patient restores it (issue 19); left out for the caregiver"}})

OUTBOX_ROW = obj(
    {"id": INT, "inviteId": INT_OR_NULL, "familyId": INT_OR_NULL, "type": STR,
     "channel": {"type": "string", "enum": ["in_app", "sms", "email", "push", "payment"]},
     "recipient": STR, "recipientUserId": INT_OR_NULL,
     "status": {"type": "string", "enum": list(OUTBOX_STATUSES)}, "retryCount": INT,
     "error": STR_OR_NULL, "sentAt": TIME_OR_NULL, "deliveredAt": TIME_OR_NULL,
     "nextAttemptAt": TIME_OR_NULL, "createdAt": TIME, "updatedAt": TIME_OR_NULL})

GROUP_BRIEF = obj({"id": INT, "name": STR_OR_NULL, "status": GROUP_STATUS, "adminId": INT})

COMPONENTS: dict[str, Schema] = {
    "Error": obj({"error": obj({"code": STR, "message": STR},
                               {"fields": {"type": "object",
                                           "additionalProperties": array(STR)}})}),
    "User": USER,
    "Family": FAMILY,
    "FamilyWithRole": extend(FAMILY, {"role": {"type": "string", "enum": [*ROLES, "admin"]}}),
    "FamilyPage": obj({"items": array(ref("Family")), "nextCursor": STR_OR_NULL}),
    "FamilyWithRoleList": items_of("FamilyWithRole"),
    "Invite": INVITE,
    "InviteList": items_of("Invite"),
    "PendingInvite": extend(INVITE, {"familyName": STR_OR_NULL, "senderName": STR_OR_NULL}),
    "PendingInviteList": items_of("PendingInvite"),
    "InviteSent": obj({"invite": ref("Invite")}),
    "Membership": obj({"familyId": INT, "userId": INT, "role": ROLE, "joinedAt": TIME}),
    "Accepted": obj({"family": ref("Family"), "role": ROLE,
                     "connections": array(ref("Connection"))}),
    "Connection": CONNECTION,
    "ConnectionList": items_of("Connection"),
    "MyConnections": obj({"following": array(ref("Connection")),
                          "followers": array(ref("Connection"))}),
    "Subscription": obj({"subscriptionId": INT, "status": {
        "type": "string", "enum": ["active", "cancelled", "expired"]}, "plan": STR,
        "slots": obj({"patient": INT, "caregiver": INT}), "expiresAt": TIME}),
    "Token": obj({"token": STR, "user": ref("User")}),
    "CodeSent": obj({"verification": {"type": "string", "enum": ["sent"]}},
                    description="The same answer whether or not the number has an account: "
                    "a code goes to it by SMS, or a message saying it has one."),
    "EmailLinkSent": obj({"email": STR, "expiresAt": TIME},
                         description="A link is on its way to the address; it counts once "
                         "the link comes back (POST /api/v1/auth/email/prove)."),
    "EmailProved": obj({"email": STR, "emailVerified": {"type": "boolean", "const": True}}),
    "PasswordReset": obj({"passwordReset": {"type": "boolean", "const": True}},
                         description="Every session and API token of the account has "
                         "ended."),
    "AuditEvent": obj({"at": TIME, "actorId": INT_OR_NULL, "action": STR,
                       "subject": {"oneOf": [obj({"type": STR, "id": INT_OR_NULL}),
                                             {"type": "null"}]},
                       "details": {"type": ["object", "null"]}}),
    "AuditList": items_of("AuditEvent"),
    "Report": obj({"id": INT, "patientId": INT, "period": STR, "summary": STR,
                   "createdAt": TIME, "read": {"type": ["boolean", "null"],
                                               "description": "null for the patient"}}),
    "ReportList": items_of("Report"),
    "Notification": obj({"id": INT, "type": STR, "createdAt": TIME, "read": BOOL,
                         "groupId": INT_OR_NULL, "payload": {"type": "object"},
                         "subject": STR_OR_NULL, "text": STR}),
    "NotificationList": items_of("Notification"),
    "UserList": items_of("User"),
    "StaffInvite": extend(INVITE, {"senderId": INT, "receiverId": INT_OR_NULL}),
    "OutboxRow": OUTBOX_ROW,
    "GroupBrief": GROUP_BRIEF,
    "UserFile": obj({
        "user": ref("User"),
        "signIn": obj({"active": BOOL, "lastLoginAt": TIME_OR_NULL, "tokensLive": INT,
                       "failed24h": INT, "lastFailedAt": TIME_OR_NULL}),
        "families": array(extend(GROUP_BRIEF, {"role": {"type": "string",
                                                        "enum": [*ROLES, "admin"]}})),
        "connections": array(ref("Connection")),
        "invitesSent": array(ref("StaffInvite")),
        "invitesReceived": array(ref("StaffInvite")),
        "notifications": array(ref("OutboxRow")),
        "groups": array(ref("GroupBrief")),
        "people": array(obj({"id": INT, "name": STR, "phone": STR_OR_NULL}))}),
    "ResentNotification": obj({"notification": ref("OutboxRow")}),
    "Codes": obj({"codes": array(STR), "plan": STR, "days": INT}),
    "Queue": obj({
        "items": array(obj({"signal": STR, "key": STR, "level": INT, "title": STR})),
        "reviewed": array(obj({"signal": STR, "key": STR, "title": STR, "level": INT,
                               "levelNow": INT_OR_NULL, "note": STR,
                               "reviewer": STR_OR_NULL, "reviewedAt": TIME})),
        # When the items were counted (issue 21); null: counted for this answer.
        "countedAt": TIME_OR_NULL}),
    "Reviewed": obj({"review": obj({"id": INT, "signal": STR, "key": STR, "level": INT,
                                    "note": STR, "reviewedBy": INT_OR_NULL,
                                    "createdAt": TIME})}),
}
