"""GET /api/docs: a human-readable page of the OpenAPI document — Swagger UI, vendored in
static/vendor/swagger-ui, started by static/api-docs/docs.js, which reads
/api/v1/openapi.json with the browser session (or says to log in). Nothing from a CDN.
"""

from __future__ import annotations

import os

from flask import Blueprint, current_app, send_from_directory

bp = Blueprint("api_docs", __name__)


@bp.get("/api/docs")
def api_docs():
    """The page itself is static: who may read the document is decided by openapi.json."""
    folder = os.path.join(current_app.static_folder, "api-docs")
    response = send_from_directory(folder, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response
