"""Pages in view tests: CSRF tokens and form posts, htmx headers, the text, form errors,
flashed messages."""

from __future__ import annotations

import html
import re

from tests.factories import authenticator_code

HX = {"HX-Request": "true"}
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_ERROR_RE = re.compile(r'<p class="error[^"]*"[^>]*>(.*?)</p>')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def csrf_of(c) -> str:
    """The CSRF token of a test client's session (the home page's hidden field)."""
    return csrf_from(c.get("/").get_data(as_text=True))


def post(c, url: str, data: dict | None = None, headers: dict | None = None, *,
         csrf: bool = True):
    """A form post from the test client `c`, with its session's CSRF token unless
    csrf=False."""
    data = dict(data or {})
    if csrf:
        data["csrf_token"] = csrf_of(c)
    return c.post(url, data=data, headers=headers or {})


def staff_post(c, url: str, data: dict | None = None, headers: dict | None = None, *,
               csrf: bool = True):
    """post() of a staff action, confirmed as the staff area asks (issue 21) by a fresh code
    of the signed-in staff member's authenticator (tests/factories.py TOTP_SECRET), unless
    `data` brings its own code."""
    data = dict(data or {})
    if "code" not in data:
        with c.session_transaction() as session:
            user_id = (session.get("_user_id") or "").partition(":")[0]
        if user_id:
            with c.application.app_context():
                data["code"] = authenticator_code(int(user_id))
    return post(c, url, data, headers, csrf=csrf)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def fragment(response, starts_with: str) -> str:
    """The text of an htmx fragment answer: a 200, no page around it, and it begins with
    `starts_with` (the swapped element's opening tag)."""
    assert response.status_code == 200
    body = text(response)
    assert "<html" not in body
    assert body.lstrip().startswith(starts_with), body[:200]
    return body


def errors(response) -> list[str]:
    """The error messages a form shows (field and form-level)."""
    return [html.unescape(m) for m in _ERROR_RE.findall(response.get_data(as_text=True))]


def flashes(client) -> list[str]:
    """The messages waiting in the session (read without consuming the next page)."""
    with client.session_transaction() as session:
        return [message for _category, message in session.get("_flashes", [])]
