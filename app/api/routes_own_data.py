"""My data (issue 19): what the portal holds about the caller, and its export as a ZIP."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import get_locale

from app.api.auth import actor
from app.api.blueprint import bp
from app.api.contract import Body, operation
from app.api.routes_accounts import CONFIRMATION
from app.api.schemas import BOOL, INT, INT_OR_NULL, STR, STR_OR_NULL, array, obj
from app.models.connections import PERMISSION_CODES
from app.privacy.blueprint import archive_response, limit_exports
from app.privacy.data import data_of
from app.privacy.export import data_export_confirm

TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}


def part(item):
    return obj({"items": array(item), "total": INT})


OWN_DATA = obj({
    "profile": obj({"id": INT, "name": STR, "phone": STR_OR_NULL, "email": STR_OR_NULL,
                    "gender": {"enum": ["male", "female", None]}, "locale": STR,
                    "createdAt": TIME, "phoneProvedAt": TIME_OR_NULL,
                    "emailProvedAt": TIME_OR_NULL, "lastLoginAt": TIME_OR_NULL}),
    "memberships": array(obj({"familyId": INT, "family": STR_OR_NULL, "familyStatus": STR,
                              "role": STR, "roleName": STR, "joinedAt": TIME})),
    "connections": array(obj(
        {"id": INT, "familyId": INT_OR_NULL, "family": STR,
         "as": {"type": "string", "enum": ["patient", "caregiver"]}, "asName": STR,
         "other": obj({"id": INT, "name": STR}), "relationship": STR_OR_NULL,
         "permissions": obj(dict.fromkeys(PERMISSION_CODES, BOOL)), "since": TIME,
         "status": {"type": "string",
                    "enum": ["active", "disconnected", "consent_withdrawn", "ended"]},
         "statusText": STR,
         "history": array(obj({"connectionId": INT, "id": INT, "at": TIME, "action": STR,
                               "who": STR, "what": STR})),
         "historyTotal": INT},
        {"revoked": BOOL, "disconnectedBy": STR_OR_NULL},
        description="revoked and disconnectedBy only for the connection's patient "
                    "(BR-056: its caregiver is not told of a disconnect).")),
    "invitesSent": part(obj({"id": INT, "familyId": INT_OR_NULL, "family": STR,
                             "phone": STR, "to": STR_OR_NULL, "role": STR, "roleName": STR,
                             "status": STR, "createdAt": TIME,
                             "expiresAt": TIME_OR_NULL})),
    "invitesReceived": part(obj({"id": INT, "familyId": INT_OR_NULL, "family": STR,
                                 "from": STR_OR_NULL, "role": STR, "roleName": STR,
                                 "status": STR, "createdAt": TIME,
                                 "expiresAt": TIME_OR_NULL})),
    "notifications": part(obj({"id": INT, "at": TIME, "type": STR, "subject": STR_OR_NULL,
                               "text": STR, "read": BOOL})),
    "auditEvents": part(obj({"id": INT, "at": TIME, "action": STR, "who": STR, "what": STR,
                             "about": STR, "details": STR})),
}, description="The newest 50 of each long list, with its total; the export has them all.")
ZIP = {"type": "string", "format": "binary", "contentMediaType": "application/zip",
       "description": "data.json and profile, memberships, connections, permission_history, "
                      "invites, notifications and audit_events as CSV files."}


def _language() -> str:
    return getattr(get_locale(), "language", "vi")


@bp.get("/me/data")
@operation(answers={200: OWN_DATA})
def me_data():
    """What the portal holds about me, in my language: profile, families, connections with
    their permissions and history, invites, notifications, the audit trail about me."""
    return jsonify(data_of(actor(), locale=_language()).as_json())


@bp.post("/me/data/export")
@limit_exports
@operation(body=Body(optional=CONFIRMATION, empty=True), answers={200: ZIP},
           rate_limited=True,
           refusals={422: ("confirmation_required", "bad_password", "invalid_code")})
def me_data_export(body: dict):
    """Download all my data as a ZIP, confirmed by my password or an SMS code (POST
    /me/confirmation-code); streamed, recorded in the audit trail, EXPORT_RATE_LIMIT."""
    me = actor()
    # A wrong code's counted try is kept though refused (invalid_code: keep_on_refusal).
    data_export_confirm(actor=me, password=body.get("password"), code=body.get("code"),
                        ip=request.remote_addr)
    return archive_response(me.id, _language())
