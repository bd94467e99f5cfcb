"""My plan: the subscription and redeeming an activation code."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.billing.forms import RedeemForm
from app.billing.names import STATUS_NAMES, plan_name
from app.billing.services import subscription_of, subscription_redeem
from app.dates import day
from app.errors import Conflict, Invalid, NotFound
from app.forms import copy_errors
from app.groups.queries import active_group_of_admin
from app.htmx import see_other, wants_fragment
from app.payments.provider import PaymentUnavailable
from app.transaction import undo_refused

bp = Blueprint("billing", __name__, url_prefix="/plan")





@bp.context_processor
def _helpers():
    return {"plan_name": plan_name, "status_name": lambda s: str(STATUS_NAMES.get(s, s))}


def _plan_page(form: RedeemForm, status: int = 200):
    info = unavailable = None
    try:
        info = subscription_of(actor=current_user._get_current_object())
    except NotFound:
        pass
    except PaymentUnavailable as exc:
        unavailable = exc.message
    return render_template(
        "billing/plan.html", info=info, unavailable=unavailable, form=form,
        group=active_group_of_admin(current_user.id),
        can_redeem=current_app.config["PAYMENT_PROVIDER"] == "local"), status


@bp.get("")
@login_required
def plan():
    """My plan: the subscription, its places and expiry, how to renew, the redeem form."""
    return _plan_page(RedeemForm())


@bp.post("/redeem")
@login_required
def redeem():
    """Redeem an activation code; then on to the family page, or to creating it."""
    form = RedeemForm()
    if form.validate():
        try:
            sub = subscription_redeem(actor=current_user._get_current_object(),
                                      code=form.code.data, ip=request.remote_addr)
        except (Invalid, Conflict) as exc:
            undo_refused()
            copy_errors(form, exc, "code")
        else:
            flash(_("Code accepted: your %(plan)s plan runs until %(date)s.",
                    plan=plan_name(sub.plan), date=day(sub.expires_at)),
                  "success")
            has_group = active_group_of_admin(current_user.id) is not None
            return see_other(url_for("billing.plan" if has_group else "groups.index"))
    if wants_fragment():
        return render_template("billing/_redeem_form.html", form=form), 422
    return _plan_page(form, 422)
