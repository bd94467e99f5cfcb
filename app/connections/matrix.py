"""The permission matrix's read model for the pages: plain values built once in Python
(one block per patient, a row per caregiver, a switch per permission), rendered by the
macros of templates/connections/_matrix_macros.html: a table per patient at a desk, a card
per connection on a phone, from the same markup (static/css/matrix.css). The family page
(app/membership), "Who follows me" and the answers to a toggle, a disconnect or a restore
all render from it, so a switch looks the same wherever it is drawn.

Everything a row or a switch shows is worked out here once per page — the names in the
reader's language, the URLs, the accessible names — instead of once per switch in the
template: the matrix has six switches per connection and the template was the page's cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from flask import current_app, url_for
from flask_babel import gettext as _
from markupsafe import escape

from app.connections.queries import (
    EMERGENCY,
    PatientBlock,
    current_rows,
    enabled_codes,
    matrix_blocks,
    permission_names,
    permission_state,
    relationship_names,
)
from app.groups.queries import GroupView
from app.models.accounts import User
from app.models.connections import Connection

RELATED_ENDPOINT = "care.relationship"
_ID = "987654321"  # a marker replaced in a URL made once per page


def labels() -> dict:
    """What the pages outside the matrix (the confirmation steps, the history) need to name
    permissions and relationships in the reader's language."""
    permissions = permission_names()
    return {"permissions": permissions, "permission_label": dict(permissions),
            "relationship_names": relationship_names(), "permission_state": permission_state}


def _url_maker(endpoint: str, **fixed):
    """url(connection_id): url_for once per page instead of once per row."""
    sample = url_for(endpoint, connection_id=int(_ID), **fixed)
    return lambda connection_id: sample.replace(_ID, str(int(connection_id)))


def form_id(patient_id: int) -> str:
    """The id of a patient's form: its table's switches post with it."""
    return f"m{patient_id}"


@dataclass(frozen=True, slots=True)
class Switch:
    """One permission of one connection: a button of its patient's form (inside it), posting
    set=<connection> <code> <on|off> (what pressing it asks for).

    It draws itself (__html__, which Jinja calls for {{ switch }}): the matrix has six per
    connection, and a Jinja macro call per switch was a tenth of the family page's time.
    Its name for assistive technology is "permission — caregiver → patient": its column's
    header and its row's hidden tail (n<connection>), by aria-labelledby. On a phone, where
    the table's header is not shown, its label (the permission's name, data-l) is drawn
    beside it by the stylesheet: the label is inside the button, so the whole line presses
    it."""

    connection_id: int
    code: str
    on: bool
    url: str          # where it posts
    head: str         # the id of its column's header (the permission's name)
    text: str         # "On" / "Off", written out: what is left without the stylesheet
    label: str        # the permission's name, shown beside it on a phone
    disabled: bool    # the connection is disconnected: restore it first
    refocus: bool = False  # it answers an action on it (htmx): the focus comes back to it

    def __html__(self) -> str:
        cid, on = self.connection_id, self.on
        extra = (f' disabled aria-describedby="connection-{cid}-hint"' if self.disabled else "")
        if self.refocus:
            extra += " autofocus"
        return (f'<button role="switch" aria-checked="{"true" if on else "false"}" '
                f'aria-labelledby="{self.head} n{cid}" data-l="{escape(self.label)}" '
                f'name="set" value="{cid} {self.code} {"off" if on else "on"}" '
                f'hx-post="{escape(self.url)}"{extra}>{escape(self.text)}</button>')


@dataclass(frozen=True, slots=True)
class RowTexts:
    """What every row says, translated once per page rather than once per row."""

    disconnected: str
    restore_hint: str
    restore: str
    disconnect: str
    history: str
    related: str
    withdrawn: str
    withdrawn_hint: str


@dataclass(frozen=True, slots=True)
class Row:
    """One caregiver→patient connection: who, six switches, status and actions."""

    id: int
    revoked: bool
    withdrawn: bool   # the patient withdrew consent: the admin is not offered Restore
    caregiver: str
    relationship: str | None
    name_tail: str    # "— caregiver → patient": the end of each switch's accessible name
    switches: tuple[Switch, ...]
    form: str
    restore_url: str
    restore_label: str
    disconnect_url: str
    disconnect_label: str
    history_url: str
    history_label: str
    related_url: str | None
    texts: RowTexts


@dataclass(frozen=True, slots=True)
class Block:
    """One patient of the matrix, with who receives their emergency alerts."""

    patient_id: int
    patient_name: str
    back: str                      # "group" | "followers": where answers go back to
    form: str
    url: str
    alerted: int
    total: int
    emergency_name: str
    permissions: tuple[tuple[str, str], ...]
    rows: tuple[Row, ...]

    def row(self, connection_id: int) -> Row | None:
        return next((r for r in self.rows if r.id == connection_id), None)


class Matrix:
    """Builds blocks, rows and switches for one page (or one answer) in one language: the
    names and URLs are worked out once, then each switch is a few string joins."""

    def __init__(self, back: str = "group") -> None:
        self.back = back
        self.permissions = tuple(permission_names())
        self.names = dict(self.permissions)
        # a switch's column header: h<patient>-<n>, n its permission's place (1…)
        self.column = {code: n for n, (code, _name) in enumerate(self.permissions, 1)}
        self.on, self.off = _("On"), _("Off")
        self.url = url_for("connections.permission_switch")

    # What only rows need: worked out on the first row (a toggle's answer draws one switch).

    @cached_property
    def texts(self) -> RowTexts:
        return RowTexts(disconnected=_("Disconnected"),
                        restore_hint=_("Restore to change permissions"),
                        restore=_("Restore"), disconnect=_("Disconnect"),
                        history=_("History"), related=_("How are we related?"),
                        withdrawn=_("Consent withdrawn"),
                        withdrawn_hint=_("The patient withdrew consent: only they can "
                                         "restore it"))

    @cached_property
    def labels(self) -> tuple[str, str, str]:
        """The rows' accessible names (restore, disconnect, history): translated once,
        filled in per row."""
        return (_("Restore %(caregiver)s → %(patient)s"),
                _("Disconnect %(caregiver)s from %(patient)s"),
                _("History: %(caregiver)s → %(patient)s"))

    @cached_property
    def relationships(self) -> dict[str, str]:
        return relationship_names()

    @cached_property
    def urls(self):
        """(restore, disconnect, history, related or None): url(connection_id) each."""
        back = {} if self.back == "group" else {"back": self.back}
        related = (_url_maker(RELATED_ENDPOINT)
                   if self.back == "followers"
                   and RELATED_ENDPOINT in current_app.view_functions else None)
        return (_url_maker("connections.restore_confirm", **back),
                _url_maker("connections.disconnect_confirm", **back),
                _url_maker("connections.history"), related)

    def switch(self, c: Connection, code: str, state: dict[str, bool] | None = None, *,
               refocus: bool = False) -> Switch:
        on = (state if state is not None else permission_state(c)).get(code, False)
        return Switch(c.id, code, on, self.url, f"h{c.user_id}-{self.column.get(code, 0)}",
                      self.on if on else self.off, self.names.get(code, code),
                      bool(c.permission_revoked), refocus)

    def row(self, c: Connection, users: dict[int, User]) -> Row:
        patient, caregiver = users[c.user_id].name, users[c.linked_user_id].name
        state = permission_state(c)
        code = c.relationship_code
        names = {"caregiver": caregiver, "patient": patient}
        restore_label, disconnect_label, history_label = self.labels
        restore_url, disconnect_url, history_url, related_url = self.urls
        return Row(
            id=c.id, revoked=bool(c.permission_revoked),
            withdrawn=bool(self.back == "group" and c.permission_revoked
                           and c.consent_withdrawn_at),
            caregiver=caregiver,
            relationship=self.relationships.get(code) if code else None,
            name_tail=f"— {caregiver} → {patient}",
            switches=tuple(self.switch(c, code, state) for code, _name in self.permissions),
            form=form_id(c.user_id),
            restore_url=restore_url(c.id),
            restore_label=restore_label % names if c.permission_revoked else "",
            disconnect_url=disconnect_url(c.id),
            disconnect_label="" if c.permission_revoked else disconnect_label % names,
            history_url=history_url(c.id),
            history_label=history_label % names,
            related_url=related_url(c.id) if related_url else None,
            texts=self.texts)

    def block(self, block: PatientBlock, users: dict[int, User]) -> Block:
        connections = block.connections
        return Block(
            patient_id=block.patient.id, patient_name=block.patient.name, back=self.back,
            form=form_id(block.patient.id), url=self.url,
            alerted=sum(1 for c in connections if EMERGENCY in enabled_codes(c)),
            total=len(connections), emergency_name=self.names.get(EMERGENCY, EMERGENCY),
            permissions=self.permissions,
            rows=tuple(self.row(c, users) for c in connections))

    def blocks(self, patients: Iterable[User], connections: Iterable[Connection],
               users: dict[int, User]) -> list[Block]:
        return [self.block(b, users) for b in matrix_blocks(patients, connections)]


def matrix_context(view: GroupView) -> dict:
    """The group page's permission matrix (its admin only): one block per patient, and per
    caregiver how many of their connections are live, disconnected, or disconnected by
    their patient's withdrawn consent. Four statements
    whatever the size of the family."""
    connections, users = current_rows(view.group.id)
    patients = [user for _member, user in view.users_in("patient")]
    per_caregiver: dict[int, dict[str, int]] = {}
    for c in connections:
        counts = per_caregiver.setdefault(c.linked_user_id,
                                          {"live": 0, "revoked": 0, "withdrawn": 0})
        # revoked: those the admin may restore; withdrawn: the patient's own (issue 19)
        counts[("withdrawn" if c.consent_withdrawn_at else "revoked")
               if c.permission_revoked else "live"] += 1
    return {"matrix": Matrix("group").blocks(patients, connections, users),
            "caregiver_connections": per_caregiver}
