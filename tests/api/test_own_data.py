"""GET /me/data and POST /me/data/export (issue 19): the reading as JSON, and the ZIP after
the password or an SMS code; 422 confirmation_required, bad_password, invalid_code; 429."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import func, select

from app.accounts.services import api_token_create
from app.extensions import db, limiter
from app.models.audit import AuditEvent
from tests.api import Api, refused, scalar
from tests.factories import PASSWORD
from tests.privacy.families import REASON, story
from tests.sms import texted_code


def told(app, client):
    with app.app_context():
        s = story()
        tokens = {k: api_token_create(user=getattr(s, k), name="t")
                  for k in ("admin", "patient", "caregiver")}
        phones = {k: getattr(s, k).phone for k in tokens}
        ids = {k: getattr(s, k).id for k in tokens}
        db.session.commit()
    return {k: Api(client, t) for k, t in tokens.items()}, phones, ids


def exports(app) -> int:
    return scalar(app, select(func.count()).select_from(AuditEvent)
                  .where(AuditEvent.action == "account.data_exported"))


def test_my_data_as_json(app, client):
    api, phones, ids = told(app, client)
    answer = api["patient"].get("/me/data", headers={"Accept-Language": "en"})
    assert answer.status_code == 200
    data = answer.get_json()
    assert data["profile"]["id"] == ids["patient"]
    assert data["profile"]["createdAt"].endswith("Z")
    (c,) = data["connections"]
    assert c["status"] == "disconnected"
    assert c["revoked"] is True
    assert data["notifications"]["total"] == 1
    assert REASON not in answer.get_data(as_text=True)
    seen = api["caregiver"].get("/me/data").get_json()
    assert "revoked" not in seen["connections"][0]
    assert "disconnect" not in json.dumps(seen["connections"]).lower()
    assert phones["patient"] not in json.dumps(seen)


def test_the_export_with_the_password(app, client):
    api, _phones, ids = told(app, client)
    response = api["patient"].post("/me/data/export", json={"password": PASSWORD})
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Cache-Control"] == "no-store"
    assert f"family-connect-data-{ids['patient']}-" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert json.loads(archive.read("data.json"))["profile"]["id"] == ids["patient"]
    assert exports(app) == 1


def test_the_refusals(app, client, configure):
    configure(EXPORT_RATE_LIMIT="10 per hour")  # every try counts (a wrong password too)
    api, _phones, _ids = told(app, client)
    refused(api["patient"].post("/me/data/export", json={}), 422, "confirmation_required")
    refused(api["patient"].post("/me/data/export"), 422, "confirmation_required")
    refused(api["patient"].post("/me/data/export", json={"password": "sai-roi"}), 422,
            "bad_password")
    refused(api["patient"].post("/me/data/export", json={"code": "000000"}), 422,
            "invalid_code")
    refused(api["patient"].post("/me/data/export", json={"pass": "x"}), 422, "invalid")
    assert exports(app) == 0


def test_the_export_with_an_sms_code(app, client, use_gateway):
    api, phones, _ids = told(app, client)
    assert api["caregiver"].post("/me/confirmation-code").status_code == 202
    code = texted_code(app, use_gateway, phones["caregiver"])
    response = api["caregiver"].post("/me/data/export", json={"code": code})
    assert response.status_code == 200
    zipfile.ZipFile(io.BytesIO(response.get_data())).testzip()
    refused(api["caregiver"].post("/me/data/export", json={"code": code}), 422,
            "invalid_code")
    assert exports(app) == 1


def test_the_export_is_rate_limited(app, client, configure):
    configure(EXPORT_RATE_LIMIT="1 per hour")
    limiter.reset()  # the limiter's store is the process's: other apps' users share ids
    api, _phones, _ids = told(app, client)
    assert api["patient"].post("/me/data/export",
                               json={"password": PASSWORD}).status_code == 200
    refused(api["patient"].post("/me/data/export", json={"password": PASSWORD}), 429,
            "rate_limited")
    assert exports(app) == 1
