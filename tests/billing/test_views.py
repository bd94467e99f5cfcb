"""My plan through the test client: the subscription as the provider tells it, and redeeming
an activation code — as a page, an htmx fragment, a no-JS redirect and a 422."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from app.billing.services import codes_issue
from app.db import utcnow
from app.extensions import db
from app.models.accounts import User
from app.models.audit import AuditEvent
from app.models.billing import ActivationCode, Subscription
from app.payments.provider import PaymentUnavailable, SubscriptionInfo
from tests.factories import make_group, make_subscription, make_user
from tests.pages import HX, csrf_of, errors, flashes, text


class FakeProvider:
    """Stands in for the payment service: answers `info`, or is down."""

    name = "fake"

    def __init__(self, info: SubscriptionInfo | None = None, down: bool = False):
        self.info, self.down = info, down

    def subscription_for(self, user_id: int) -> SubscriptionInfo | None:
        if self.down:
            raise PaymentUnavailable()
        return self.info

    def sync_member(self, **_kwargs) -> None:
        return None


@pytest.fixture
def subscribe(run):
    def make(who, **fields) -> None:
        run(lambda: make_subscription(db.session.get(User, who.id), **fields))

    return make


@pytest.fixture
def code(run):
    def make(plan: str = "family", days: int = 30) -> str:
        return run(lambda: codes_issue(actor=None, plan=plan, days=days))[0]

    return make


@pytest.fixture
def rows(app):
    """Subscriptions, redeemed codes, audit events."""

    def count() -> tuple[int, int, int]:
        with app.app_context():
            return (db.session.scalar(select(func.count()).select_from(Subscription)),
                    db.session.scalar(select(func.count()).select_from(ActivationCode)
                                      .where(ActivationCode.redeemed_by.is_not(None))),
                    db.session.scalar(select(func.count()).select_from(AuditEvent)))

    return count


def redeem(c, value: str, headers=None, csrf=True):
    data = {"code": value}
    if csrf:
        data["csrf_token"] = csrf_of(c)
    return c.post("/plan/redeem", data=data, headers=headers or {})


# --- the page ---------------------------------------------------------------------------


def test_no_plan_yet(person, login):
    response = login(person()).get("/plan")
    assert response.status_code == 200
    body = text(response)
    assert 'id="no-plan"' in body
    assert 'id="redeem-form"' in body
    assert 'id="subscription"' not in body


def test_an_active_plan_with_its_places_and_expiry(person, subscribe, login):
    me = person()
    subscribe(me, plan="family_plus", patients=4, caregivers=8, days=30)
    body = text(login(me).get("/plan"))
    assert re.search(r'id="plan-name">Family Plus<', body)
    assert re.search(r'id="plan-status"><span class="tag tag-active">Active<', body)
    assert re.search(r'id="plan-patient-slots">4<', body)
    assert re.search(r'id="plan-caregiver-slots">8<', body)
    expiry = (utcnow() + timedelta(days=30)).date().isoformat()
    assert f'datetime="{expiry}' in body
    assert 'id="plan-renew"' not in body
    # no family yet: the way to create one
    assert 'href="/family"' in body
    assert "Create your family" in body


def test_an_admin_with_a_family_gets_a_link_to_it(run, login):
    def build():
        admin = make_user(locale="en")
        group = make_group(admin)
        return SimpleNamespace(id=admin.id, phone=admin.phone, group_id=group.id)

    admin = run(build)
    body = text(login(admin).get("/plan"))
    assert f'href="/family/{admin.group_id}"' in body
    assert "Create your family" not in body


@pytest.mark.parametrize(("status", "days", "shown", "opening"), [
    ("active", -1, "Expired", "Your family plan has expired."),
    ("expired", -3, "Expired", "Your family plan has expired."),
    ("cancelled", 100, "Cancelled", "Your family plan was cancelled."),
])
def test_an_ended_plan_says_how_to_renew(person, subscribe, login, status, days, shown,
                                        opening):
    me = person()
    subscribe(me, status=status, days=days)
    body = text(login(me).get("/plan"))
    assert re.search(rf'id="plan-status"><span class="tag tag-{shown.lower()}">{shown}<', body)
    renew = re.search(r'id="plan-renew">(.*?)</p>', body, re.S).group(1)
    assert opening in renew
    assert "To renew, redeem a new activation code below;" in renew
    assert 'id="redeem-form"' in body
    assert "Create your family" not in body


def test_payment_service_down_still_renders_the_page(person, login, app, monkeypatch):
    monkeypatch.setitem(app.extensions, "payment_provider", FakeProvider(down=True))
    response = login(person()).get("/plan")
    assert response.status_code == 200
    body = text(response)
    assert 'id="plan-unavailable"' in body
    assert "The payment service is not answering right now" in body
    assert 'id="redeem-form"' in body


def test_http_provider_shows_the_plan_without_the_redeem_form(person, login, app,
                                                             monkeypatch, rows, code):
    me, raw = person(), code()
    info = SubscriptionInfo(subscription_id=77, owner_user_id=me.id, status="active",
                            plan="family", patient_slots=2, caregiver_slots=4,
                            expires_at=utcnow() + timedelta(days=10))
    monkeypatch.setitem(app.config, "PAYMENT_PROVIDER", "http")
    monkeypatch.setitem(app.extensions, "payment_provider", FakeProvider(info))
    c = login(me)
    body = text(c.get("/plan"))
    assert re.search(r'id="plan-name">Family<', body)
    assert 'id="redeem-form"' not in body
    before = rows()
    assert redeem(c, raw).status_code == 404
    assert rows() == before


def test_the_plan_page_needs_a_login(client):
    response = client.get("/plan")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/account/login")


def test_the_header_links_to_my_family_and_my_plan(person, login):
    body = text(login(person()).get("/"))
    assert '<a href="/family" id="nav-family">My family</a>' in body
    assert '<a href="/plan" id="nav-plan">My plan</a>' in body


# --- redeem -----------------------------------------------------------------------------


def test_redeem_without_js_goes_on_to_create_the_family(person, login, code, app, rows):
    me, raw = person(), code(plan="family_basic", days=30)
    c = login(me)
    response = redeem(c, raw)
    assert response.status_code == 303
    assert response.headers["Location"] == "/family"
    assert flashes(c)[0].startswith("Code accepted: your Family Basic plan runs until ")
    with app.app_context():
        sub = db.session.scalar(select(Subscription).where(Subscription.owner_user_id == me.id))
        assert (sub.plan, sub.patient_slots, sub.caregiver_slots) == ("family_basic", 1, 2)
    assert rows()[:2] == (1, 1)
    assert 'id="create-form"' in text(c.get("/family"))


def test_redeem_with_a_family_goes_back_to_my_plan(run, login, code):
    def build():
        user = make_user(locale="en")
        make_group(user)
        return SimpleNamespace(id=user.id, phone=user.phone)

    admin = run(build)
    response = redeem(login(admin), code())
    assert response.status_code == 303
    assert response.headers["Location"] == "/plan"


def test_redeem_for_htmx_answers_hx_redirect(person, login, code, rows):
    c = login(person())
    response = redeem(c, code(), headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/family"
    assert rows()[:2] == (1, 1)


def test_a_wrong_code_is_422_on_the_page(person, login, code, rows):
    code()
    c = login(person())
    before = rows()
    response = redeem(c, "AAAA-BBBB-CCCC-DDDD")
    assert response.status_code == 422
    body = text(response)
    assert "<html" in body
    assert 'id="no-plan"' in body
    assert "This activation code is not valid. Check it and try again." in errors(response)
    assert 'value="AAAA-BBBB-CCCC-DDDD"' in body
    assert rows() == before


def test_a_wrong_code_for_htmx_is_the_form_partial(person, login, rows):
    c = login(person())
    before = rows()
    response = redeem(c, "short", headers=HX)
    assert response.status_code == 422
    body = text(response)
    assert "<html" not in body
    assert body.lstrip().startswith('<form id="redeem-form"')
    assert "This activation code is not valid. Check it and try again." in errors(response)
    assert rows() == before


def test_an_empty_code_is_422(person, login, rows):
    c = login(person())
    before = rows()
    response = redeem(c, "")
    assert response.status_code == 422
    assert "This field is required." in errors(response)
    assert rows() == before


def test_a_used_code_is_refused(person, login, code, rows):
    raw = code()
    assert redeem(login(person()), raw).status_code == 303
    c = login(person())
    before = rows()
    response = redeem(c, raw, headers=HX)
    assert response.status_code == 422
    assert "This code has already been used." in errors(response)
    assert rows() == before


def test_redeem_without_csrf_is_400_and_writes_nothing(person, login, code, rows):
    raw = code()
    c = login(person())
    before = rows()
    response = redeem(c, raw, csrf=False)
    assert response.status_code == 400
    assert rows() == before
