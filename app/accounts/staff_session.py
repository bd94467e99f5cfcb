"""A staff member's session is short (issue 21): it ends STAFF_IDLE_MINUTES after its last
request and STAFF_SESSION_HOURS after its login, whatever happens between.

The session cookie (signed by SECRET_KEY) carries when it logged in and when it was last
used; an older copy of the cookie carries older times, so replaying one does not stretch
the session. Only sessions that logged in as staff (or passed the staff factor) carry the
mark; everyone else's session is left as it is, with no check and no write.
"""

from __future__ import annotations

import time

from flask import current_app, session

LOGIN_AT = "login_at"
SEEN_AT = "seen_at"
STAFF_MARK = "staff"


def start(staff: bool) -> None:
    """At login (app/accounts/signin.py start_session): when it began; staff are marked."""
    now = int(time.time())
    session[LOGIN_AT] = now
    if staff:
        session[STAFF_MARK] = 1
        session[SEEN_AT] = now


def mark_staff() -> None:
    """A session that became staff after its login (the role was given meanwhile): its
    limits count from now for idleness, from its login for the absolute limit."""
    now = int(time.time())
    session[STAFF_MARK] = 1
    session.setdefault(LOGIN_AT, now)
    session[SEEN_AT] = now


def ended() -> str | None:
    """"idle" or "absolute" when a staff session is past a limit, else None; a live staff
    session is marked used now."""
    if not session.get(STAFF_MARK):
        return None
    now = int(time.time())
    config = current_app.config
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    if not isinstance(login_at, int) or now - login_at >= config["STAFF_SESSION_HOURS"] * 3600:
        return "absolute"
    if not isinstance(seen_at, int) or now - seen_at >= config["STAFF_IDLE_MINUTES"] * 60:
        return "idle"
    if now != seen_at:
        session[SEEN_AT] = now
    return None
