"""The export of a person's data (issue 19, item 2): one ZIP with data.json and a CSV file
per section, written as it is read, so memory stays flat however long the history.

Who may: the person, after a fresh password or SMS code (data_export_confirm), or staff
with a reason (data_export_for_staff); each is audited before a byte is sent. The ZIP is
then made by zip_chunks(), outside the request's transaction: it reads in batches of
BATCH rows (keyset on the id), writes each batch into the archive and hands the bytes on.
stdlib zipfile writes to a stream it cannot seek (data descriptors after each member),
so nothing waits for the whole archive.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.identity import identity_confirm
from app.audit import words
from app.audit.services import audit_reason, audit_record
from app.db import utcnow
from app.errors import Forbidden
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.invites import ConnectionInvite
from app.models.notifications import InviteNotification
from app.privacy.data import (
    Viewer,
    connection_row,
    connections_of,
    event_row,
    events_filter,
    history_filter,
    history_row,
    invite_received_row,
    invite_sent_row,
    invites_received_filter,
    invites_sent_filter,
    iso,
    last_states,
    load_families,
    load_people,
    membership_rows,
    notification_row,
    notifications_filter,
    profile_row,
    viewer_for,
)

BATCH = 500
USER_EXPORTED, STAFF_EXPORTED = "account.data_exported", "staff.data_exported"

FILES = {
    "profile.csv": ("field", "value"),
    "memberships.csv": ("familyId", "family", "familyStatus", "role", "roleName", "joinedAt"),
    "connections.csv": ("id", "familyId", "family", "as", "asName", "otherId", "otherName",
                        "relationship", "status", "statusText", "revoked", "disconnectedBy",
                        "since", "health_overview", "emergency_alert", "task_config",
                        "compliance_tracking", "proxy_execution", "encouragement"),
    "permission_history.csv": ("connectionId", "id", "at", "action", "who", "what"),
    "invites.csv": ("direction", "id", "familyId", "family", "phone", "to", "from", "role",
                    "roleName", "status", "createdAt", "expiresAt"),
    "notifications.csv": ("id", "at", "type", "subject", "text", "read"),
    "audit_events.csv": ("id", "at", "action", "who", "what", "about", "details"),
}


# --- who may, audited ---------------------------------------------------------------------


def data_export_confirm(*, actor: User, password: str | None, code: str | None,
                        ip: str | None = None) -> AuditEvent:
    """The actor exports their own data, after proving it is them (identity_confirm: the
    password, or a code from confirm_code_send). Records account.data_exported; the
    caller commits before the archive is made.

    Raises Invalid(confirmation_required | bad_password | invalid_code); on invalid_code
    the try stays counted (keep_on_refusal)."""
    how = identity_confirm(actor=actor, password=password, code=code)
    event = audit_record(actor=actor, action=USER_EXPORTED, subject=actor, ip=ip,
                         details={"by": how})
    db.session.flush()
    return event


def data_export_for_staff(*, actor: User, user: User, reason: str | None,
                          ip: str | None = None) -> AuditEvent:
    """Staff export a person's data (the same archive the person gets), with a reason:
    staff.data_exported. Raises Forbidden(not_staff) for anyone else, Invalid(
    reason_required | reason_too_long)."""
    if not actor.is_staff or not actor.is_active:
        raise Forbidden(_("Only staff can do this."), code="not_staff")
    reason = audit_reason(reason)
    event = audit_record(actor=actor, action=STAFF_EXPORTED, subject=user, ip=ip,
                         details={"reason": reason})
    db.session.flush()
    return event


def export_filename(user_id: int, now: datetime | None = None) -> str:
    return f"family-connect-data-{user_id}-{(now or utcnow()).date().isoformat()}.zip"


# --- the rows, in batches -----------------------------------------------------------------


def batches(model, where, size: int = BATCH) -> Iterator[list[Any]]:
    """The rows of `model` matching `where`, oldest first, BATCH at a time (keyset on the
    id); each batch leaves the session once used, so nothing piles up."""
    last = 0
    while True:
        rows = list(db.session.scalars(select(model).where(where, model.id > last)
                                       .order_by(model.id).limit(size)))
        if not rows:
            return
        yield rows
        last = rows[-1].id
        for row in rows:
            if row in db.session:  # the stream's pieces each have a session of their own
                db.session.expunge(row)


def _connections(viewer: Viewer):
    found = connections_of(viewer.user.id)
    for _c, patient, caregiver, group in found:
        viewer.people.setdefault(patient.id, patient)
        viewer.people.setdefault(caregiver.id, caregiver)
        if group is not None:
            viewer.families[group.id] = group.name or _("Family %(id)s", id=group.id)
            viewer.admins[group.id] = group.admin_user_id
    return found


def connection_rows(viewer: Viewer, found) -> Iterator[dict[str, Any]]:
    last = last_states([c.id for c, *_ in found])
    for connection, patient, caregiver, _group in found:
        yield connection_row(viewer, connection, last.get(connection.id), patient, caregiver)


def history_rows(viewer: Viewer, found, size: int) -> Iterator[dict[str, Any]]:
    by_id = {c.id: (c, (caregiver.name, patient.name)) for c, patient, caregiver, _g in found}
    patient_of = [c.id for c, *_ in found if c.user_id == viewer.user.id]
    caregiver_of = [c.id for c, *_ in found if c.user_id != viewer.user.id]
    for batch in batches(AuditEvent, history_filter(patient_of, caregiver_of), size):
        load_people(viewer, (e.actor_id for e in batch))
        for event in batch:
            connection, parties = by_id[event.subject_id]
            yield history_row(viewer, connection, event, parties)


def invite_rows(viewer: Viewer, size: int) -> Iterator[dict[str, Any]]:
    user = viewer.user
    for direction, where, make in (("sent", invites_sent_filter(user.id), invite_sent_row),
                                   ("received", invites_received_filter(user),
                                    invite_received_row)):
        for batch in batches(ConnectionInvite, where, size):
            load_people(viewer, [i.sender_id for i in batch] + [i.receiver_id for i in batch])
            load_families(viewer, (i.family_group_id for i in batch))
            for invite in batch:
                yield {"direction": direction, **make(viewer, invite)}


def notification_rows(viewer: Viewer, locale: str, size: int) -> Iterator[dict[str, Any]]:
    for batch in batches(InviteNotification, notifications_filter(viewer.user.id), size):
        for row in batch:
            yield notification_row(viewer, row, locale)


def event_rows(viewer: Viewer, size: int) -> Iterator[dict[str, Any]]:
    for batch in batches(AuditEvent, events_filter(viewer.user.id), size):
        load_people(viewer, words.people_of(batch))
        load_families(viewer, words.families_of(batch))
        for event in batch:
            yield event_row(viewer, event)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A row for a CSV line: the other party and the six permissions as columns."""
    flat = {k: v for k, v in row.items() if not isinstance(v, dict | list)}
    other = row.get("other")
    if isinstance(other, dict):
        flat.update(otherId=other.get("id"), otherName=other.get("name"))
    flat.update(row.get("permissions") or {})
    return flat


# --- the archive ----------------------------------------------------------------------------


class _Pipe(io.RawIOBase):
    """Where zipfile writes: the bytes wait here until the generator hands them on. It
    cannot seek, so zipfile streams (a data descriptor after each member)."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_chunks(user: User, *, locale: str, size: int = BATCH) -> Iterator[bytes]:
    """The archive of `user`'s data, piece by piece: data.json, then the CSV files. Each
    section is read twice (once for the JSON, once for its CSV) rather than held."""
    pipe = _Pipe()
    archive = zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED)
    viewer = viewer_for(user)
    found = _connections(viewer)
    profile, memberships = profile_row(user), membership_rows(user)
    sections: dict[str, Callable[[], Iterable[dict[str, Any]]]] = {
        "memberships": lambda: memberships,
        "connections": lambda: connection_rows(viewer, found),
        "permissionHistory": lambda: history_rows(viewer, found, size),
        "invites": lambda: invite_rows(viewer, size),
        "notifications": lambda: notification_rows(viewer, locale, size),
        "auditEvents": lambda: event_rows(viewer, size),
    }

    with archive.open("data.json", "w", force_zip64=True) as out:
        head = {"exportedAt": iso(utcnow()), "language": locale, "profile": profile}
        out.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2].encode() + b",\n")
        for n, (key, rows) in enumerate(sections.items()):
            out.write(f' "{key}": ['.encode())
            for i, row in enumerate(rows()):
                out.write((",\n  " if i else "\n  ").encode()
                          + json.dumps(row, ensure_ascii=False).encode())
                if pipe._chunks and i % 100 == 99:
                    yield pipe.take()
            out.write(b"\n ]" + (b",\n" if n < len(sections) - 1 else b"\n}\n"))
            yield pipe.take()
    yield pipe.take()

    csv_sources: dict[str, Callable[[], Iterable[dict[str, Any]]]] = {
        "profile.csv": lambda: ({"field": k, "value": v} for k, v in profile.items()),
        "memberships.csv": sections["memberships"],
        "connections.csv": sections["connections"],
        "permission_history.csv": sections["permissionHistory"],
        "invites.csv": sections["invites"],
        "notifications.csv": sections["notifications"],
        "audit_events.csv": sections["auditEvents"],
    }
    for name, rows in csv_sources.items():
        with archive.open(name, "w", force_zip64=True) as raw, io.TextIOWrapper(
                raw, encoding="utf-8-sig", newline="") as text:
            writer = csv.DictWriter(text, fieldnames=FILES[name], restval="",
                                    extrasaction="ignore")
            writer.writeheader()
            for i, row in enumerate(rows()):
                writer.writerow(_flat(row))
                if i % 100 == 99:
                    text.flush()
                    yield pipe.take()
        yield pipe.take()
    archive.close()
    yield pipe.take()
