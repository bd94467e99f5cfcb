"""Rate limits (issue 7, item 3) beyond what the feature suites already prove.

Already covered elsewhere, not repeated here: the login page per address and per account
(tests/accounts/test_views.py), the API token route per address, per account and sharing
the login page's bucket (tests/api/test_auth.py), the invite link's login sharing it too
(tests/invites/test_views.py), the claim page's new-link form (tests/accounts/test_claims.py).

Here: guessing link tokens (LINK_RATE_LIMIT: invite and claim links, pages and API, one
bucket of misses per address), signing up (the page, the invite link's sign-up and the API
share one bucket), and the 429 answers' message in the user's language, page and API: how
long to wait for the limit that was hit (issue 15), as their Retry-After header says.
Invite texts are paced per phone and family (INVITE_MESSAGE_SECONDS: a resend or a new
invite after a cancel, tests/invites/test_pace.py); how many invites are pending at once is
bounded by the plan's slots, which the last test shows.
"""

from __future__ import annotations

import html
import re

import pytest
from flask_babel import force_locale

from app.errors import try_again_in, wait_phrase
from tests.factories import PASSWORD
from tests.pages import csrf_of
from tests.security.conftest import as_who

BAD = "A" * 43  # the shape of a real token, matching nothing


def told(app, locale: str, seconds: int) -> str:
    with app.test_request_context(), force_locale(locale):
        return try_again_in(seconds)


def waits(app, response, locale: str, *, within: int = 60) -> int:
    """A 429 whose message, in `locale`, says to wait what its Retry-After says (at most
    `within` seconds, the window of the limit hit); the seconds."""
    assert response.status_code == 429
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= within
    assert message(response) == told(app, locale, seconds)
    return seconds


def message(response) -> str:
    if response.is_json:
        return response.get_json()["error"]["message"]
    return html.unescape(re.search(r'<p class="lead">(.*?)</p>', response.get_data(as_text=True),
                                   re.S)[1])


def english(client):
    assert client.post("/language", data={"locale": "en", "csrf_token": csrf_of(client)}
                       ).status_code == 303


def test_guessing_invite_links_is_limited_per_address(app, world, limited):
    client = app.test_client()
    assert [client.get(f"/i/{BAD}{n}").status_code for n in range(3)] == [404] * 3
    # Even the real link waits now, for this address; the message says so, in Vietnamese.
    seconds = waits(app, client.get(f"/i/{world.invite_token}"), "vi")
    assert told(app, "vi", seconds) != told(app, "en", seconds)
    # Another address is not held back.
    other = client.get(f"/i/{world.invite_token}", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 200


def test_links_that_work_cost_nothing(app, world, limited):
    client = app.test_client()
    assert {client.get(f"/i/{world.invite_token}").status_code for _ in range(8)} == {200}
    assert {client.get(f"/claim/{world.claim_token}").status_code for _ in range(8)} == {200}


def test_every_route_that_takes_a_token_shares_the_bucket(app, world, limited):
    """A miss anywhere counts everywhere: the page, the claim link, the answer forms and
    the API (whose 429 is JSON, in the caller's language)."""
    invitee = as_who(app, world, "invitee")
    english(invitee)
    assert invitee.get(f"/claim/{BAD}").status_code == 404
    assert invitee.post("/i/accept", data={"token": BAD, "csrf_token": csrf_of(invitee)}
                        ).status_code == 404
    bearer = {"Authorization": f"Bearer {world.api_tokens['invitee']}"}
    assert invitee.post("/api/v1/invites/accept", json={"token": BAD},
                        headers=bearer).status_code == 404
    for attempt in (invitee.post("/i/reject", data={"token": world.invite_token,
                                                    "csrf_token": csrf_of(invitee)}),
                    invitee.get(f"/claim/{world.claim_token}"),
                    invitee.post("/api/v1/invites/accept", json={"token": world.invite_token},
                                 headers=bearer)):
        waits(app, attempt, "en")  # the invitee reads English now
    assert attempt.get_json()["error"]["code"] == "rate_limited"


def test_signing_up_is_limited_across_the_page_the_link_and_the_api(app, world, limited):
    client = app.test_client()
    english(client)
    bad = {"phone": "12", "password": "x", "name": "", "gender": "0"}
    assert client.post("/account/register", data={**bad, "csrf_token": csrf_of(client)}
                       ).status_code == 422
    assert client.post("/api/v1/auth/register", json={"phone": "12"}).status_code == 422
    signup = as_who(app, world, "signup")
    assert signup.post("/i/signup", data={**bad, "csrf_token": csrf_of(signup)}
                       ).status_code == 422
    waits(app, client.post("/account/register", data={**bad, "csrf_token": csrf_of(client)}),
          "en")
    assert signup.post("/i/signup", data={**bad, "csrf_token": csrf_of(signup)}
                       ).status_code == 429
    api = client.post("/api/v1/auth/register", json={"phone": "12"})
    assert (api.status_code, api.get_json()["error"]["code"]) == (429, "rate_limited")
    # Looking at the forms is never limited.
    assert client.get("/account/register").status_code == 200


def test_login_429_speaks_english_to_an_english_visitor(app, world, limited):
    client = app.test_client()
    english(client)
    for _ in range(3):
        assert client.post("/account/login", data={
            "login": world.phones["admin"], "password": "wrong-pass",
            "csrf_token": csrf_of(client)}).status_code == 401
    page = client.post("/account/login", data={"login": world.phones["admin"],
                                               "password": PASSWORD,
                                               "csrf_token": csrf_of(client)})
    waits(app, page, "en")
    api = client.post("/api/v1/auth/token", json={"login": world.phones["admin"],
                                                  "password": PASSWORD})
    waits(app, api, "en")
    assert api.get_json()["error"]["code"] == "rate_limited"


def test_the_hourly_limit_says_to_wait_the_hour_not_a_minute(app, world, monkeypatch):
    """Every 429 used to say "wait a minute", even when the limit hit was the hourly one."""
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "100 per minute;3 per hour")
    client = app.test_client()
    for _ in range(3):
        assert client.post("/api/v1/auth/token", json={"login": world.phones["admin"],
                                                       "password": "wrong-pass"}
                           ).status_code == 401
    api = client.post("/api/v1/auth/token", json={"login": world.phones["admin"],
                                                  "password": PASSWORD})
    seconds = waits(app, api, "vi", within=3600)
    assert seconds > 3500
    assert message(api) == told(app, "vi", seconds) == "Quá nhiều lần thử. Vui lòng thử lại " \
                                                       "sau 1 giờ."
    english(client)
    page = client.post("/account/login", data={"login": world.phones["admin"],
                                               "password": PASSWORD,
                                               "csrf_token": csrf_of(client)})
    waits(app, page, "en", within=3600)
    assert message(page) == "Too many attempts. Try again in 1 hour."


@pytest.mark.parametrize(("seconds", "en", "vi"), [
    (0.2, "1 second", "1 giây"), (1, "1 second", "1 giây"), (42, "42 seconds", "42 giây"),
    (59.5, "1 minute", "1 phút"), (60, "1 minute", "1 phút"), (61, "2 minutes", "2 phút"),
    (2519, "42 minutes", "42 phút"), (3540, "59 minutes", "59 phút"), (3541, "1 hour", "1 giờ"),
    (3600, "1 hour", "1 giờ"), (3601, "2 hours", "2 giờ"), (86400, "24 hours", "24 giờ")])
def test_the_wait_is_rounded_up_and_plural_aware(app, seconds, en, vi):
    with app.test_request_context():
        for locale, expected in (("en", en), ("vi", vi)):
            with force_locale(locale):
                assert wait_phrase(seconds) == expected


def test_invites_are_bounded_by_the_plans_slots(app, world):
    """No more live links than free places: the world's plan has 4 caregiver places, one
    taken by its caregiver and two by pending invites."""
    admin = as_who(app, world, "admin")
    statuses = [admin.post(f"/family/{world.group_id}/invites", data={
        "phone": f"0912 000 {n:03d}", "role": "caregiver", "csrf_token": csrf_of(admin)}
    ).status_code for n in range(3)]
    assert statuses == [201, 409, 409]
