"""My data in Chromium (issue 19): the page reads at 390 and 1280 px in Vietnamese and
English with no sideways scrolling, and the export downloads through the page's form with
the password: a ZIP that opens, with the person's data and no private reason.
Screenshots go to test-output/screenshots/<backend>/<test>/."""

from __future__ import annotations

import json
import zipfile

import pytest
from playwright.sync_api import expect

from app.extensions import db
from tests.browser.story import PHONE, assert_fits, log_in
from tests.factories import PASSWORD
from tests.privacy.families import REASON, story

DESK = {"width": 1280, "height": 900}
TITLE = {"vi": "Dữ liệu của tôi", "en": "My data"}
DISCONNECTED = {"vi": "Bị ngắt kết nối bởi quản trị viên của gia đình",
                "en": "Disconnected by the family's admin"}


@pytest.fixture(scope="module")
def patient(live):
    with live.app.app_context():
        s = story()
        phone, user_id = s.patient.phone, s.patient.id
        db.session.remove()
    return phone, user_id


@pytest.mark.parametrize("size", ["390", "1280"])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_page_reads(live, patient, new_page, screenshots, lang, size):
    phone, _user_id = patient
    page = new_page("en-US" if lang == "en" else "vi-VN")
    page.set_viewport_size(PHONE if size == "390" else DESK)
    log_in(page, live, phone, lang)
    page.goto(live.url("/me/data"))
    expect(page.locator("h1")).to_have_text(TITLE[lang])
    card = page.locator("#data-connections li[id^=data-connection-]").first
    expect(card).to_contain_text(DISCONNECTED[lang])
    expect(page.locator("#data-export form button#export-button")).to_be_visible()
    assert REASON not in page.content()
    assert_fits(page, "main *")
    page.screenshot(path=screenshots / f"my-data-{lang}-{size}.png", full_page=True)


def test_the_export_downloads_through_the_page(live, patient, new_page, screenshots,
                                                tmp_path):
    phone, user_id = patient
    page = new_page("en-US")
    page.set_viewport_size(PHONE)
    log_in(page, live, phone, "en")
    page.goto(live.url("/me/data"))
    page.locator("#export-form #password").fill(PASSWORD)
    # Enter in the password field presses the form's first submit button: the download,
    # not "Send me a code", which comes after it.
    with page.expect_download() as downloading:
        page.locator("#export-form #password").press("Enter")
    download = downloading.value
    assert download.suggested_filename.startswith(f"family-connect-data-{user_id}-")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert archive.testzip() is None
        data = json.loads(archive.read("data.json"))
        assert data["profile"]["id"] == user_id
        assert data["connections"][0]["status"] == "disconnected"
        assert REASON not in archive.read("data.json").decode()
        assert "audit_events.csv" in archive.namelist()


def test_a_wrong_password_shows_the_message(live, patient, new_page):
    phone, _user_id = patient
    page = new_page("en-US", refusals_ok=True)
    page.set_viewport_size(PHONE)
    log_in(page, live, phone, "en")
    page.goto(live.url("/me/data"))
    page.locator("#export-form #password").fill("not-the-password")
    page.locator("#export-button").click()
    expect(page.locator("#export-form .error")).to_have_text("This password is not right.")
