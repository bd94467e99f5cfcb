"""Staff, /api/v1/staff: user search and a user's file, suspend and reactivate, resend a
failed notification, issue activation codes, the review queue (SPEC §1, §7).

One guard for every route under /api/v1/staff, before it runs: a signed-in user who is
not staff gets 403 staff_only (no user at all is 401, from app/api/auth.py). Each look at
a user or a search is audited, each action carries a reason into the audit trail.
"""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.mfa import mfa_check
from app.accounts.services import account_reactivate, account_suspend
from app.api.access import ACCESS_ARGS
from app.api.auth import actor
from app.api.blueprint import bp
from app.api.contract import Body, TextArg, integer, operation, text
from app.api.serializers import (
    connection_json,
    flag_json,
    group_brief_json,
    iso,
    outbox_json,
    person_json,
    review_json,
    reviewed_json,
    sign_in_json,
    staff_invite_json,
    user_json,
)
from app.billing.services import MAX_CODES_PER_RUN
from app.errors import DomainError, Invalid, NotFound
from app.extensions import db
from app.groups.queries import ties_of
from app.models.accounts import User
from app.models.connections import Connection, ConnectionPermission
from app.staff.queries import QUERY_MAX, clean_query, user_file, user_search
from app.staff.services import (
    codes_issue_reasoned,
    notification_resend,
    review_mark,
    staff_access_reason,
    staff_check,
    staff_searched,
    staff_user_viewed,
)
from app.staff.signals import queue

PREFIX = "/api/v1/staff"
REASON_TEXT = text(nullable=True, description="Why: required (not blank), at most 500 "
                                             "characters; kept in the audit trail.")
TOTP_TEXT = text(nullable=True, description=(
    "A fresh code of the authenticator app (or a recovery code): every staff action is "
    "confirmed by one, and a code is taken once (issue 21)."))
REASON_BODY = Body(optional={"reason": REASON_TEXT, "totp": TOTP_TEXT}, empty=True)
REASON_REFUSALS = {422: ("reason_required", "reason_too_long", "invalid_code", "code_reused")}


def _fresh_code(body: dict) -> None:
    """A staff action's fresh code (issue 21), checked before the action: Invalid
    (invalid_code | code_reused) on the body's totp field, TooSoon while too many failed."""
    try:
        mfa_check(actor=actor(), code=body.get("totp"), purpose="action",
                  ip=request.remote_addr)
    except DomainError as exc:
        if "code" in exc.fields:
            exc.fields = {"totp": exc.fields["code"]}
        raise
@bp.before_request
def _staff_only() -> None:
    """Every route whose path starts with /api/v1/staff is for staff, checked here once
    (after authenticate) so that a new route cannot forget it."""
    rule = request.url_rule
    if rule is not None and (rule.rule == PREFIX or rule.rule.startswith(PREFIX + "/")):
        staff_check(actor())


def _user(user_id: int, *, lock: bool = False) -> User:
    """The user; lock: held until the commit, so two staff members acting at once on the
    same account see each other's change (the second gets the 409)."""
    user = db.session.get(User, user_id, with_for_update=lock)
    if user is None:
        raise NotFound(_("This person does not exist."), code="not_found")
    return user


def _users_json(users: list[User]) -> list[dict]:
    ties = ties_of([u.id for u in users])
    return [user_json(u, roles=[(g.id, role) for g, role in ties[u.id]], private=True)
            for u in users]


def _load_permissions(connections: list[Connection]) -> None:
    """The permission rows of several connections in one statement (not one each)."""
    rows: dict[int, list[ConnectionPermission]] = {c.id: [] for c in connections}
    if rows:
        for row in db.session.scalars(
                select(ConnectionPermission).where(ConnectionPermission.contact_id.in_(rows))
                .order_by(ConnectionPermission.id)):
            rows[row.contact_id].append(row)
    for connection in connections:
        set_committed_value(connection, "permissions", rows[connection.id])


@bp.get("/staff/users")
@operation(query=(TextArg("q", QUERY_MAX, required=True, description="A phone number "
                          "however typed, its start (4+ digits), an email or its start."),),
           answers={200: "UserList"})
def staff_users(args: dict):
    """Users by phone (however typed, or its start) or email (or its start); audited."""
    query = clean_query(args["q"])
    if not query:
        message = _("Type a phone number or an email address, at most %(n)d characters.",
                    n=QUERY_MAX)
        raise Invalid(message, code="invalid", fields={"q": [message]})
    users = user_search(query)
    answer = {"items": _users_json(users)}
    staff_searched(actor=actor(), what="users", query=query, found=len(users),
                   ip=request.remote_addr)
    return jsonify(answer)


@bp.get("/staff/users/<int:user_id>")
@operation(query=ACCESS_ARGS, answers={200: "UserFile"}, refusals=REASON_REFUSALS)
def staff_user(user_id: int, args: dict):
    """A user's file: families and roles, connections, invites, notifications, sign-in;
    with a reason, kept in the audit trail."""
    user = _user(user_id)
    grant = staff_access_reason(actor=actor(), scope="file", user=user, reason=args["reason"],
                                text=args["reasonText"], ip=request.remote_addr,
                                fields=("reason", "reasonText"))
    file = user_file(user)
    _load_permissions(file.connections)
    people = {**file.people, user.id: user}
    answer = {
        "user": user_json(user, roles=[(g.id, role) for g, role in file.ties], private=True),
        "signIn": sign_in_json(file.sign_in),
        "families": [{**group_brief_json(g), "role": role}
                     for g, role in sorted(file.ties, key=lambda t: (t[0].id, t[1]))],
        "connections": [connection_json(c, people, viewer=actor()) for c in file.connections],
        "invitesSent": [staff_invite_json(i) for i in file.invites_sent],
        "invitesReceived": [staff_invite_json(i) for i in file.invites_received],
        "notifications": [outbox_json(n) for n in file.notifications],
        "groups": [group_brief_json(g) for _id, g in sorted(file.groups.items())],
        "people": [person_json(p) for _id, p in sorted(file.people.items())],
    }
    staff_user_viewed(actor=actor(), user=user, what="file", ip=request.remote_addr,
                      grant={"reason_code": grant.details["reason_code"], "grant": grant.id})
    return jsonify(answer)


ACCOUNT_ACTIONS = {"suspend": account_suspend, "reactivate": account_reactivate}


@bp.post("/staff/users/<int:user_id>/<any(suspend, reactivate):action>")
@operation(body=REASON_BODY, answers={200: "User"}, rate_limited=True,
           refusals={**REASON_REFUSALS, 403: ("forbidden",),
                     409: ("already_suspended", "not_suspended")})
def staff_account(user_id: int, action: str, body: dict):
    """Suspend an account (no sign-in; sessions and tokens end) or lift the suspension,
    with a reason; 200 user."""
    user = _user(user_id, lock=True)
    _fresh_code(body)
    ACCOUNT_ACTIONS[action](actor=actor(), user=user, reason=body.get("reason"),
                            ip=request.remote_addr)
    [answer] = _users_json([user])
    return jsonify(answer)


@bp.post("/staff/notifications/<int:notification_id>/resend")
@operation(body=REASON_BODY, answers={200: "ResentNotification"}, rate_limited=True,
           refusals={**REASON_REFUSALS, 409: ("not_failed", "invite_not_pending")})
def staff_resend(notification_id: int, body: dict):
    """Queue a failed notification again, with a reason; 200 {notification}."""
    _fresh_code(body)
    row = notification_resend(actor=actor(), notification_id=notification_id,
                              reason=body.get("reason"), ip=request.remote_addr)
    answer = {"notification": outbox_json(row)}
    return jsonify(answer)


@bp.post("/staff/codes")
@operation(body=Body(required={"plan": text(description="A configured plan (PLANS)."),
                               "days": integer(minimum=1, maximum=3660)},
                     optional={"count": integer(minimum=1, maximum=MAX_CODES_PER_RUN),
                               "reason": REASON_TEXT, "totp": TOTP_TEXT}),
           answers={201: "Codes"}, rate_limited=True, refusals={**REASON_REFUSALS, 422: (
               "unknown_plan", "reason_required", "reason_too_long", "invalid_code",
               "code_reused")})
def staff_codes(body: dict):
    """Issue activation codes, with a reason; 201 {codes, plan, days}: shown this once."""
    _fresh_code(body)
    codes = codes_issue_reasoned(actor=actor(), plan=body["plan"], days=body["days"],
                                 count=body.get("count", 1), reason=body.get("reason"),
                                 ip=request.remote_addr)
    return jsonify(codes=codes, plan=body["plan"], days=body["days"]), 201


@bp.get("/staff/queue")
@operation(answers={200: "Queue"})
def staff_queue():
    """The review queue: flagged items still to review, and those reviewed at their
    current level."""
    found = queue()
    return jsonify(items=[flag_json(f) for section in found.sections for f in section.open],
                   reviewed=[reviewed_json(r) for r in found.reviewed],
                   countedAt=iso(found.counted_at))


@bp.post("/staff/queue/<signal>/<key>/review")
@operation(body=Body(optional={"note": REASON_TEXT}, empty=True), answers={201: "Reviewed"},
           refusals={**REASON_REFUSALS, 404: ("unknown_signal",), 409: ("not_flagged",)})
def staff_review(signal: str, key: str, body: dict):
    """Mark a flagged item reviewed, with a note; 201 {review}."""
    review = review_mark(actor=actor(), signal=signal, key=key, note=body.get("note"),
                         ip=request.remote_addr)
    answer = {"review": review_json(review)}
    return jsonify(answer), 201
