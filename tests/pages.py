"""Reading pages in view tests: htmx headers, the text, form errors, flashed messages."""

from __future__ import annotations

import html
import re

HX = {"HX-Request": "true"}
_ERROR_RE = re.compile(r'<p class="error[^"]*"[^>]*>(.*?)</p>')


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def errors(response) -> list[str]:
    """The error messages a form shows (field and form-level)."""
    return [html.unescape(m) for m in _ERROR_RE.findall(response.get_data(as_text=True))]


def flashes(client) -> list[str]:
    """The messages waiting in the session (read without consuming the next page)."""
    with client.session_transaction() as session:
        return [message for _category, message in session.get("_flashes", [])]
