"""Family Connect: the application factory."""

from __future__ import annotations

import logging
import os

from flask import Flask, g, has_request_context, request, session
from flask_login import current_user
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app.config import check_catalogues, load_config, per_process_limits, running_a_command
from app.db import configure_sqlite
from app.extensions import babel, csrf, db, limiter, login_manager, migrate
from app.models_base import MAX_ID

# The package's own directory (its catalogues), and a checkout's root (templates/,
# static/, migrations/ and instance/ live there when the portal runs from the source).
APP_DIR = os.path.dirname(os.path.abspath(__file__))
BASE_DIR = os.path.dirname(APP_DIR)


def resource_dir(name: str) -> str:
    """templates, static or migrations: beside app/ in a checkout; inside the package once
    installed from a wheel, where setup.py's build copies them (app/templates, …)."""
    packaged = os.path.join(APP_DIR, name)
    return packaged if os.path.isdir(packaged) else os.path.join(BASE_DIR, name)


TRANSLATIONS_DIR = os.path.join(APP_DIR, "translations")


def default_instance_path() -> str | None:
    """INSTANCE_PATH if set; else a checkout's instance/ beside pyproject.toml; else None,
    Flask's own default for an installed package, <prefix>/var/app-instance (the
    virtualenv's var/, never site-packages nor wherever the command happens to run)."""
    if os.environ.get("INSTANCE_PATH"):
        return os.environ["INSTANCE_PATH"]
    if os.path.isfile(os.path.join(BASE_DIR, "pyproject.toml")):
        return os.path.join(BASE_DIR, "instance")
    return None

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": ["'self'", "data:"],
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "object-src": "'none'",
}


def digits_up_to(limit: int) -> str:
    """A regex of the numbers 0…limit written in at most as many ASCII digits as limit
    (`\\d` would also match other scripts' digits, which int() reads: ١ is 1)."""
    digits = str(limit)
    parts = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        rest = len(digits) - i - 1
        if digit != "0":
            tail = f"[0-9]{{{rest}}}" if rest else ""
            parts.append(digits[:i] + f"[0-{int(digit) - 1}]" + tail)
    return "(?:" + "|".join([*parts, digits]) + ")"


class IdConverter(IntegerConverter):
    """`<int:…>` bounded to the database's BIGINT range — in its regex too: a larger number
    then matches no rule (404), where a failed conversion would let werkzeug answer 405
    when the same path has a rule for another method. ASCII digits only: werkzeug's `\\d+`
    matches ١ or １, and int() reads them, so /families/١ was family 1."""

    regex = "[0-9]+"

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's parameter name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
        if self.max == MAX_ID and not self.signed:
            self.regex = digits_up_to(MAX_ID)


def select_locale() -> str:
    """The user's stored language, else the one picked in this session, else Vietnamese."""
    if not has_request_context():
        return "vi"  # commands and workers speak the default language
    if current_user and current_user.is_authenticated:
        return current_user.locale
    chosen = session.get("locale")
    return chosen if chosen in ("vi", "en") else "vi"


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=default_instance_path(),
        template_folder=resource_dir("templates"),
        static_folder=resource_dir("static"),
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(load_config(app.instance_path, config))
    # Refused before anything else starts: a wheel built without its catalogues (issue 20).
    check_catalogues(app.config.get("BABEL_TRANSLATION_DIRECTORIES") or TRANSLATIONS_DIR,
                     app.config["LANGUAGES"], app.config["APP_ENV"] == "production")
    from app.api.body import JSONProvider

    app.json = JSONProvider(app)  # JSON nested too deep is bad input, not a 500
    from app.observability import RequestIdMiddleware, install_logging

    # JSON lines or text (LOG_FORMAT), each record with its request id, link tokens redacted.
    install_logging(app.config["LOG_FORMAT"])
    logging.getLogger("app").setLevel(app.config["LOG_LEVEL"])
    if app.config["APP_ENV"] == "development":
        # With no SMS gateway or SMTP server, the log is the phone: show what it says.
        logging.getLogger("app.notifications.log_channel").setLevel(logging.DEBUG)
    if (app.config["APP_ENV"] == "production" and per_process_limits(app.config)
            and not running_a_command()):  # allowed for one declared process: say so
        logging.getLogger("app.config").warning(
            "Rate limits are counted in this process's memory (RATELIMIT_STORAGE_URI="
            "memory://, WEB_CONCURRENCY=1): start a second process only with a shared "
            "store, RATELIMIT_STORAGE_URI=redis://HOST:6379/0.")
    hops = app.config["PROXY_FIX_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    # Outermost: every answer carries X-Request-ID, the refusals made before Flask too.
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app, trust=app.config["TRUST_REQUEST_ID"])

    # Templates lose the blank lines and indentation their {% … %} tags leave behind.
    app.jinja_options = {**app.jinja_options, "trim_blocks": True, "lstrip_blocks": True}
    _init_extensions(app)
    # Ids in URLs fit a BIGINT: a larger number is a 404, not a database overflow (500).
    app.url_map.converters["int"] = IdConverter
    _register_blueprints(app)
    from app.metrics import install_metrics

    install_metrics(app)  # GET /metrics, and request counting when METRICS_TOKEN is set
    from app import transaction

    transaction.install(app)  # one commit per request, or none (app/transaction.py)

    from app.errors import register_error_handlers

    register_error_handlers(app)

    from app.cli import register_cli

    register_cli(app)
    return app


def _init_extensions(app: Flask) -> None:
    from app import models  # noqa: F401 - every table in the metadata before first use

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    migrate.init_app(app, db, directory=resource_dir("migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    # Flask-WTF offers csrf_token() both ways (a global and a context processor).
    app.jinja_env.globals["csrf_token"] = _csrf_token_once
    app.context_processor(lambda: {"csrf_token": _csrf_token_once})
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale,
                   default_translation_directories=TRANSLATIONS_DIR)
    _install_template_gettext(app)
    from app.audit.words import history_sentence
    from app.dates import day, when

    app.jinja_env.filters.update(when=when, day=day)
    # A connection's history says its events with the audit trails' sentences.
    app.jinja_env.globals["audit_history_sentence"] = history_sentence
    # One Talisman per app: it keeps its settings on the instance (see talisman_view).
    app.extensions["talisman"] = Talisman(
        app,
        force_https=app.config["FORCE_HTTPS"],
        # HSTS on every HTTPS answer outside development, whether or not we redirect:
        # behind a proxy that terminates TLS, FORCE_HTTPS may be off (PROXY_FIX_HOPS).
        strict_transport_security=app.config["APP_ENV"] != "development",
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=True,
        content_security_policy=CSP,
        frame_options="DENY",
        referrer_policy="same-origin",
    )

    from app.accounts.loader import load_user_with_unread

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.session_protection = "basic"
    # The user and the header's unread count in one statement (issue 7: ≤ 5 per page).
    login_manager.user_loader(load_user_with_unread)

    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"

    @app.context_processor
    def _template_helpers():
        from flask_babel import get_locale

        from app.accounts.services import password_rule
        from app.phone import display_phone

        return {"get_locale": get_locale, "display_phone": display_phone,
                "password_rule": password_rule, "chrome": _chrome, "nav_links": _nav_links}

    @app.after_request
    def _no_store_for_users(response):
        # Health data: pages seen by a logged-in user are never kept by shared caches.
        # (Static files are skipped: asking who the user is would cost a query each.)
        if request.endpoint == "static":
            return response
        # A session that names a user is enough (it costs no query where the route never
        # asked who the user is, /healthz); one that turns out stale is kept from caches too.
        if "_user_id" in session or current_user.is_authenticated:
            response.headers.setdefault("Cache-Control", "no-store")
        # Pages answer htmx with a fragment and browsers with a page: caches must keep both.
        response.vary.add("HX-Request")
        return response


def _chrome() -> dict:
    """What every page's header and footer say and link to, in the reader's language: made
    once per process and language (ten url_for and a dozen translations a page, else)."""
    from flask import current_app, url_for
    from flask_babel import get_locale
    from flask_babel import gettext as _

    key = (str(get_locale()), request.script_root)
    kept = current_app.extensions.setdefault("fc_chrome", {})
    made = kept.get(key)
    if made is None:
        made = kept[key] = {
            "home": url_for("core.home"), "brand": _("Family Connect"),
            "skip": _("Skip to main content"), "user_menu": _("User menu"),
            "notifications_url": url_for("notifications.index"),
            "notifications": _("Notifications"),
            "nav": {
                "home": (url_for("core.home"), "nav-home", _("Home")),
                "family": (url_for("groups.index"), "nav-family", _("My family")),
                "plan": (url_for("billing.plan"), "nav-plan", _("My plan")),
                "following": (url_for("care.following"), "nav-following", _("Patients I follow")),
                "followers": (url_for("connections.followers"), "nav-followers",
                              _("Who follows me")),
                "invites": (url_for("invites.mine"), "nav-invites", _("My invites")),
                "staff": (url_for("staff.index"), "nav-staff", _("Staff review")),
            },
            "main_menu": _("Main menu"), "unread": _("unread"),
            "settings_url": url_for("accounts.settings"), "settings": _("Settings"),
            "invites_url": url_for("invites.mine"), "invites": _("My invites"),
            "my_data_url": url_for("privacy.my_data"), "my_data": _("My data"),
            "logout_url": url_for("accounts.logout"), "logout": _("Log out"),
            "login_url": url_for("accounts.login"), "login": _("Log in"),
            "register_url": url_for("accounts.register"), "register": _("Sign up"),
            "language_url": url_for("core.set_language"),
            "footer": _("Family Connect: care together, with consent."),
        }
    return made


def _nav_links() -> list[tuple[str, str, str]]:
    """The main menu for the roles the user holds (issue 18): a patient is not offered
    "Patients I follow", a caregiver not "My plan". Someone in no family yet gets what
    starts one: their invites, a plan, a family. Staff get the review first."""
    from app.accounts.loader import roles_of

    nav = _chrome()["nav"]
    roles = roles_of(current_user)
    keys = ["home"]
    if current_user.staff_role:  # before the second factor too: the link leads to it
        keys.insert(0, "staff")
    if roles.admin:
        keys += ["family", "plan"]
    if roles.caregiver:
        keys.append("following")
    if roles.patient:
        keys.append("followers")
    if not roles.any and not current_user.staff_role:
        keys += ["invites", "family", "plan"]
    return [nav[key] for key in keys]


def _csrf_token_once() -> str:
    """Templates' csrf_token(): the session's token, made once per request. Flask-WTF keeps
    it for the request too, but reads its settings through the app context on every call,
    and the permission matrix asks for it once per switch."""
    from flask_wtf.csrf import generate_csrf

    token = g.get("_fc_csrf_token")
    if token is None:
        token = g._fc_csrf_token = generate_csrf()
    return token


def _install_template_gettext(app: Flask) -> None:
    """Templates call _() a few hundred times on a big page (the permission matrix), and
    Flask-Babel finds the catalogue through the request context on every call: keep it
    for the request, per locale object (force_locale switches it, and back)."""
    from flask_babel import get_locale, get_translations

    def translations():
        locale = get_locale()
        kept = g.get("_fc_translations")
        if kept is None or kept[0] is not locale:
            kept = g._fc_translations = (locale, get_translations())
        return kept[1]

    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n))


def _register_blueprints(app: Flask) -> None:
    """Each feature's blueprint lives in a module of its own (`blueprint.py`, or its one
    views module); its route modules import it and register their routes on it when
    they are imported, here. Nothing else imports a route module (docs/architecture.md)."""
    from app import home
    from app.accounts import email_views, identity_views, token_views
    from app.accounts import views as account_views
    from app.accounts.blueprint import bp as accounts_bp
    from app.api import (
        openapi,
        routes_accounts,
        routes_connections,
        routes_deletion,
        routes_email,
        routes_families,
        routes_invites,
        routes_notifications,
        routes_own_data,
        routes_reports,
        routes_staff,
        routes_tokens,
        routes_users,
    )
    from app.api.blueprint import bp as api_bp
    from app.api.docs import bp as api_docs_bp
    from app.billing.views import bp as billing_bp
    from app.care.views import bp as care_bp
    from app.connections import consent_views, disconnect_views
    from app.connections import views as connection_views
    from app.connections.blueprint import bp as connections_bp
    from app.core import bp as core_bp
    from app.invites import admin_views
    from app.invites import views as invite_views
    from app.invites.blueprint import bp as invites_bp
    from app.membership import handover_views
    from app.membership.views import bp as groups_bp
    from app.notifications.views import bp as notifications_bp
    from app.notifications.views import notification_context
    from app.privacy import data_views, deletion_views
    from app.privacy.blueprint import bp as privacy_bp
    from app.staff import access_views, action_views, factor_views, queue_views
    from app.staff import views as staff_views
    from app.staff.blueprint import bp as staff_bp

    del (identity_views, token_views, account_views, openapi, routes_accounts,
         routes_connections, routes_families, routes_invites, routes_notifications,
         routes_deletion, routes_own_data, routes_reports, routes_staff, routes_tokens,
         routes_users, disconnect_views, consent_views, connection_views, admin_views, invite_views,
         access_views, action_views, factor_views, queue_views, staff_views, home, data_views,
         deletion_views, handover_views, email_views, routes_email)  # imported for the routes
    app.register_blueprint(core_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(billing_bp)
    app.register_blueprint(groups_bp)
    app.register_blueprint(invites_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(connections_bp)
    app.register_blueprint(care_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(privacy_bp)
    app.context_processor(notification_context)
    # The API authenticates with bearer tokens (no CSRF) or the session (CSRF checked
    # by the API itself), see app/api/auth.py.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(api_docs_bp)  # /api/docs, the page of /api/v1/openapi.json
