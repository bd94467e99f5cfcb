"""The privacy blueprint (/me): My data, its export, deleting the account. Its route
modules (data_views, deletion_views) import it; nothing imports them but create_app.
What the export's routes share (the page's, the API's, staff's) lives here too: its rate
limit and the streamed answer."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from flask_babel import force_locale
from flask_login import current_user

from app.extensions import db, limiter
from app.models.accounts import User
from app.privacy.export import export_filename, zip_chunks

bp = Blueprint("privacy", __name__, url_prefix="/me")

EXPORT_SCOPE = "data-export"


def export_limit() -> str:
    return current_app.config["EXPORT_RATE_LIMIT"]


def export_key() -> str:
    """Per person, however they ask (the page, the API, a token)."""
    return f"user:{current_user.id}" if current_user.is_authenticated else "user:?"


def limit_exports(view):
    """EXPORT_RATE_LIMIT per person, one allowance over the page and the API."""
    return limiter.shared_limit(export_limit, scope=EXPORT_SCOPE, key_func=export_key)(view)


def archive_response(user_id: int, locale: str) -> Response:
    """The export of `user_id` as a streamed ZIP download. The request's transaction (with
    the export's audit event) is committed before the first byte (app/transaction.py: a
    2xx answer commits when it is made, its body is read after); the archive is read in
    application contexts of its own, with their own sessions, after the request's is
    gone."""
    app = current_app._get_current_object()

    def stream():
        # Each piece is made inside an application context pushed and popped around it,
        # never held across a yield: the server (or a client that stops reading) may close
        # the stream from anywhere. Each context has its own session, removed when it
        # pops, so nothing read for one piece is held for the next.
        chunks = None
        try:
            while True:
                with app.app_context(), force_locale(locale):
                    if chunks is None:
                        chunks = zip_chunks(db.session.get(User, user_id), locale=locale)
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                if chunk:
                    yield chunk
        finally:
            if chunks is not None:
                with app.app_context(), force_locale(locale):
                    chunks.close()

    response = Response(stream(), mimetype="application/zip")
    response.headers["Content-Disposition"] = (
        f"attachment; filename={export_filename(user_id)}")
    response.headers["Cache-Control"] = "no-store"
    return response
