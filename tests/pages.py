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
        code = fresh_code_of(c)
        if code is not None:
            data["code"] = code
    return post(c, url, data, headers, csrf=csrf)


def fresh_code_of(c) -> str | None:
    """A code the test authenticator of the client's signed-in staff member shows now, the
    portal taking it (tests/factories.py authenticator_code); None when nobody is in."""
    with c.session_transaction() as session:
        user_id = (session.get("_user_id") or "").partition(":")[0]
    if not user_id:
        return None
    with c.application.app_context():
        return authenticator_code(int(user_id))


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


# --- the staff pages' reason step (issue 21) --------------------------------------------------

STAFF_OBJECT = re.compile(r"^/staff/(?:groups|users)/\d+$")


def give_reason(c, path: str, reason: str = "support", text: str = ""):
    """Say why staff open the family or the file at `path` (/staff/groups/<id> or
    /staff/users/<id>): the reason step's form post; 303 to the page when accepted."""
    return post(c, f"{path}/reason", {"reason": reason, "reason_text": text})


def export_csv(c, group_id: int, reason: str = "support", text: str = ""):
    """Download a family's audit trail from the staff pages: a form post with a reason,
    confirmed by a fresh authenticator code (staff_post)."""
    return staff_post(c, f"/staff/groups/{group_id}/audit.csv",
                      {"reason": reason, "reason_text": text})


class ReasonGiving:
    """A staff test client that gives a reason ("support") the first time it opens a
    family or a file, as a staff member does once per object: for the tests of what the
    pages show after the reason step. The step itself is tested with a plain client."""

    def __init__(self, client) -> None:
        self.client = client
        self.opened: set[str] = set()

    def __getattr__(self, name: str):
        return getattr(self.client, name)

    def get(self, url: str, *args, **kwargs):
        path = url.split("?", 1)[0].split("#", 1)[0]
        # a refused reason (a 404: no such object) leaves the path to be opened again
        if (STAFF_OBJECT.match(path) and path not in self.opened
                and give_reason(self.client, path).status_code == 303):
            self.opened.add(path)
        return self.client.get(url, *args, **kwargs)
