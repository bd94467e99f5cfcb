"""How the server answers htmx: fragments for htmx, full pages and redirects otherwise."""

from __future__ import annotations

from flask import redirect, request
from werkzeug.wrappers import Response


def wants_fragment() -> bool:
    """An htmx request that is not boosted and not a history restore."""
    headers = request.headers
    return (headers.get("HX-Request") == "true"
            and headers.get("HX-Boosted") != "true"
            and headers.get("HX-History-Restore-Request") != "true")


def see_other(location: str) -> Response:
    """303 for plain form posts; HX-Redirect for htmx, which would swap a 303 body in place."""
    if wants_fragment():
        response = Response(status=200)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location, code=303)
