"""What the outbox texted: run the worker once against the real SMS gateway on 127.0.0.1
(tests/notifications/servers.py) and read the messages a number received."""

from __future__ import annotations

import re

from app.extensions import db
from app.outbox.delivery import deliver_due

CODE_RE = re.compile(r"\b([0-9]{6})\b")


def texts_to(app, gateway, phone_e164: str) -> list[str]:
    """Deliver what is due, then every SMS text the number has received, oldest first."""
    with app.app_context():
        deliver_due()
        db.session.remove()
    return [r.body.get("text") or "" for r in gateway.requests if r.body.get("to") == phone_e164]


def texted_code(app, gateway, phone_e164: str) -> str:
    """The newest one-time code texted to the number (deliver first)."""
    for sms in reversed(texts_to(app, gateway, phone_e164)):
        match = CODE_RE.search(sms)
        if match:
            return match.group(1)
    raise AssertionError(f"no code was texted to {phone_e164}: "
                         f"{[r.body for r in gateway.requests]}")
