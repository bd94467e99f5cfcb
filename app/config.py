"""Configuration read from the environment, with safe defaults.

Every variable is listed in docs/configuration.md.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ENVIRONMENTS = ("development", "production", "test")


class ConfigError(RuntimeError):
    """The environment asks for something the portal refuses to run with."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def database_url(raw: str | None, instance_path: str) -> str:
    """Return the SQLAlchemy URL: DATABASE_URL, or a SQLite file under instance/."""
    if not raw:
        return "sqlite:///" + str(Path(instance_path) / "family_connect.sqlite3")
    # Hosting platforms hand out postgres:// URLs; psycopg 3 is the driver we ship.
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def _secret_key(env: str, instance_path: str) -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        if env == "production" and len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production.")
        return key
    if env == "production":
        raise ConfigError(
            "SECRET_KEY is not set. In production the portal refuses a random key: "
            "sessions would break on restart and differ between workers."
        )
    if env == "test":
        return secrets.token_urlsafe(32)
    # Development: one random key kept under instance/, so restarts keep sessions.
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


# Plans of the local payment provider: slots per role (SPEC §6). PLANS (JSON) replaces them.
DEFAULT_PLANS = {
    "family_basic": {"patient": 1, "caregiver": 2},
    "family": {"patient": 2, "caregiver": 4},
    "family_plus": {"patient": 4, "caregiver": 8},
}


def _plans(raw: str | None) -> dict[str, dict[str, int]]:
    if not raw:
        return DEFAULT_PLANS
    try:
        plans = json.loads(raw)
        checked = {str(name): {"patient": int(slots["patient"]),
                               "caregiver": int(slots["caregiver"])}
                   for name, slots in plans.items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ConfigError('PLANS must be JSON such as {"family": {"patient": 2, '
                          '"caregiver": 4}}.') from None
    if not checked or any(v < 0 for slots in checked.values() for v in slots.values()):
        raise ConfigError("PLANS must name at least one plan, with no negative slots.")
    return checked


# Staff risk signals (app/staff/signal_kinds.py): an item is flagged when its count in the last
# RISK_WINDOW_DAYS reaches its threshold. RISK_THRESHOLDS (JSON) overrides some of them.
DEFAULT_RISK_THRESHOLDS = {
    "phone_many_groups": 3,
    "caregiver_many_patients": 5,
    "proxy_soon_after_join_hours": 24,
    "proxy_soon_after_join": 1,
    "disconnect_cycles": 3,
    "expired_invites": 5,
    "failing_notifications": 3,
}


def _risk_window_days(raw: str | None) -> int:
    if not raw:
        return 30
    try:
        days = int(raw)
    except ValueError:
        raise ConfigError("RISK_WINDOW_DAYS must be a whole number of days.") from None
    if days < 1:
        raise ConfigError("RISK_WINDOW_DAYS must be at least 1.")
    return days


def _risk_thresholds(raw: str | None) -> dict[str, int]:
    if not raw:
        return dict(DEFAULT_RISK_THRESHOLDS)
    message = ('RISK_THRESHOLDS must be a JSON object of whole numbers of at least 0, such as '
               '{"phone_many_groups": 4}; names: ' + ", ".join(DEFAULT_RISK_THRESHOLDS) + ".")
    try:
        given = json.loads(raw)
    except ValueError:
        raise ConfigError(message) from None
    if not isinstance(given, dict) or any(
            name not in DEFAULT_RISK_THRESHOLDS or isinstance(value, bool)
            or not isinstance(value, int) or value < 0 for name, value in given.items()):
        raise ConfigError(message)
    return {**DEFAULT_RISK_THRESHOLDS, **given}


def _int_at_least(name: str, default: int, minimum: int, *, unit: str = "") -> int:
    """The whole number in the environment variable `name` (`unit`: " of days"…)."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number{unit}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}.")
    return value


def _positive_days(name: str, default: int) -> int:
    return _int_at_least(name, default, 1, unit=" of days")


def _trusted_hosts(production: bool, public_base_url: str) -> list[str] | None:
    """The Host names requests may carry (Flask's TRUSTED_HOSTS; another is a 400): in
    production the host of PUBLIC_BASE_URL and those TRUSTED_HOSTS adds (comma-separated,
    e.g. the address a load balancer's health check uses). None: any host (development and
    tests, unless TRUSTED_HOSTS is set)."""
    extra = [name.strip().lower() for name in os.environ.get("TRUSTED_HOSTS", "").split(",")
             if name.strip()]
    if not production and not extra:
        return None
    host = urlsplit(public_base_url).hostname
    if not host:
        raise ConfigError("PUBLIC_BASE_URL must be an address such as https://family.example.vn: "
                          "requests for any other host are refused.")
    return [host, *(name for name in extra if name != host)]


def per_process_limits(config: Mapping | None = None) -> bool:
    """Rate limits on and counted in each process's own memory (Flask-Limiter's memory://),
    by the app's config, or by the environment (app/gunicorn_conf.py, before any app)."""
    if config is None:
        config = {"RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
                  "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "")}
    store = config.get("RATELIMIT_STORAGE_URI") or "memory://"
    return bool(config.get("RATELIMIT_ENABLED", True)) and store.startswith("memory://")


def shared_limits_advice(processes: int | None) -> str:
    """Why production refuses memory:// with several processes, and what to set instead."""
    how_many = (f"{processes} worker processes" if processes
                else "no WEB_CONCURRENCY=1 (so perhaps several processes)")
    times = f"up to {processes} times" if processes else "several times"
    return (f"APP_ENV=production with {how_many} and RATELIMIT_STORAGE_URI=memory://: each "
            f"process would count the rate limits on its own, letting through {times} the "
            "login attempts allowed. Set RATELIMIT_STORAGE_URI=redis://HOST:6379/0, a "
            "Redis server that every process shares (install the client with "
            "pip install '.[redis]'), or run a single process and declare it with "
            "WEB_CONCURRENCY=1.")


def running_a_command() -> bool:
    """A click command (`flask db upgrade`, `flask notifications deliver`…) is loading the
    app: its process serves no request, or with `flask run` serves every one itself, so
    counting in its own memory is counting right."""
    import click

    return click.get_current_context(silent=True) is not None


def log_format(production: bool) -> str:
    """LOG_FORMAT as written, else JSON lines in production and text elsewhere (the app's
    config and gunicorn's own logs, app/gunicorn_conf.py, both read it here)."""
    return (os.environ.get("LOG_FORMAT") or ("json" if production else "text")).strip().lower()


METRICS_TOKEN_MIN_LENGTH = 16


def _metrics() -> dict:
    """GET /metrics answers the holder of METRICS_TOKEN (unset: 404, and requests are not
    timed). PROMETHEUS_MULTIPROC_DIR is read by prometheus_client itself, from the
    environment; it is checked here, where a missing folder can be said plainly, instead
    of failing the first request that counts."""
    token = os.environ.get("METRICS_TOKEN", "").strip()
    if token and len(token) < METRICS_TOKEN_MIN_LENGTH:
        raise ConfigError(f"METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} "
                          "characters (e.g. python -c 'import secrets; "
                          "print(secrets.token_urlsafe(32))').")
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR={folder} must be a folder this process "
                          "can write to (create it, empty, before the portal starts).")
    return {"METRICS_TOKEN": token, "METRICS_MULTIPROC_DIR": folder}


def _payment() -> dict:
    provider = os.environ.get("PAYMENT_PROVIDER", "local")
    if provider not in ("local", "http"):
        raise ConfigError(f"PAYMENT_PROVIDER must be local or http, not {provider!r}.")
    url = os.environ.get("PAYMENT_SERVICE_URL", "").rstrip("/")
    if provider == "http" and not url:
        raise ConfigError("PAYMENT_PROVIDER=http needs PAYMENT_SERVICE_URL.")
    return {
        "PAYMENT_PROVIDER": provider,
        "PAYMENT_SERVICE_URL": url,
        "PAYMENT_SERVICE_TOKEN": os.environ.get("PAYMENT_SERVICE_TOKEN", ""),
        "PAYMENT_SERVICE_TIMEOUT": float(os.environ.get("PAYMENT_SERVICE_TIMEOUT", "3")),
        "PAYMENT_SERVICE_RETRIES": int(os.environ.get("PAYMENT_SERVICE_RETRIES", "2")),
    }


def _notifications() -> dict:
    return {
        # Unset: SMS and email are written to the log (the embedded default needs nothing).
        "SMS_GATEWAY_URL": os.environ.get("SMS_GATEWAY_URL", ""),
        "SMS_GATEWAY_TOKEN": os.environ.get("SMS_GATEWAY_TOKEN", ""),
        "SMTP_HOST": os.environ.get("SMTP_HOST", ""),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "25")),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _bool("SMTP_STARTTLS", False),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Family Connect <no-reply@localhost>"),
        "NOTIFY_TIMEOUT": float(os.environ.get("NOTIFY_TIMEOUT", "5")),
        "NOTIFY_MAX_ATTEMPTS": int(os.environ.get("NOTIFY_MAX_ATTEMPTS", "3")),
        "NOTIFY_BACKOFF_SECONDS": float(os.environ.get("NOTIFY_BACKOFF_SECONDS", "30")),
    }


def check_catalogues(directories: str, languages: tuple[str, ...], production: bool) -> None:
    """Every language the portal speaks has its compiled catalogue (messages.mo) in one of
    `directories` (Flask-Babel's BABEL_TRANSLATION_DIRECTORIES, `;`-separated). Without it
    Flask-Babel quietly serves the English source text: production refuses to start and
    says which file is missing; development and tests only warn."""
    for language in languages:
        wanted = [Path(directory) / language / "LC_MESSAGES" / "messages.mo"
                  for directory in directories.split(";")]
        if any(path.is_file() for path in wanted):
            continue
        message = (f"The {language} translation catalogue {wanted[0]} is missing, so pages "
                   "would be shown in English. It is compiled from messages.po when the "
                   "wheel is built (pip wheel . or python -m build); in a checkout run "
                   "scripts/i18n compile.")
        if production:
            raise ConfigError(message)
        logging.getLogger("app.config").warning(message)


def load_config(instance_path: str, overrides: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment (and test overrides)."""
    overrides = dict(overrides or {})
    env = overrides.pop("APP_ENV", None) or os.environ.get("APP_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")
    production = env == "production"
    url = database_url(overrides.pop("DATABASE_URL", None) or os.environ.get("DATABASE_URL"),
                       instance_path)
    public_base_url = (overrides.pop("PUBLIC_BASE_URL", None)
                       or os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")).rstrip("/")
    config = {
        "APP_ENV": env,
        "TESTING": env == "test",
        "SECRET_KEY": overrides.pop("SECRET_KEY", None) or _secret_key(env, instance_path),
        "SQLALCHEMY_DATABASE_URI": url,
        # Production: a failed statement's error text (logged at ERROR with its traceback)
        # leaves out the values it was given: they are phone numbers, names, e-mails.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": production},
        "SQLITE_BUSY_TIMEOUT_MS": int(os.environ.get("SQLITE_BUSY_TIMEOUT_MS", "5000")),
        "PUBLIC_BASE_URL": public_base_url,
        # Redirects and any URL built from the request use its Host: only ours (F9).
        "TRUSTED_HOSTS": _trusted_hosts(production, public_base_url),
        "INVITE_TTL_DAYS": int(os.environ.get("INVITE_TTL_DAYS", "7")),
        # flask import-legacy: how long imported plans and account claim links last.
        "IMPORT_PLAN_DAYS": _positive_days("IMPORT_PLAN_DAYS", 365),
        "CLAIM_LINK_DAYS": _positive_days("CLAIM_LINK_DAYS", 30),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure everywhere but on a developer's plain-HTTP machine.
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", env != "development"),
        "SESSION_COOKIE_NAME": "fc_session",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=int(os.environ.get("SESSION_HOURS", "12"))),
        "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
        # A staff member's session (issue 21): it ends after this long without a request,
        # and this long after logging in whatever happens.
        "STAFF_IDLE_MINUTES": _int_at_least("STAFF_IDLE_MINUTES", 15, 1),
        "STAFF_SESSION_HOURS": _int_at_least("STAFF_SESSION_HOURS", 8, 1),
        # The largest request body read (413 beyond): forms and JSON bodies are small.
        "MAX_CONTENT_LENGTH": _int_at_least("MAX_CONTENT_LENGTH", 1024 * 1024, 1),
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        # gunicorn's worker count (gunicorn reads it too); 1 declares a single process.
        "WEB_CONCURRENCY": _int_at_least("WEB_CONCURRENCY", 0, 1) or None,
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        # No X-RateLimit-* headers: they cost a store round trip per limited request, and
        # rewrote the 429's Retry-After (app/errors.py sets it, with the wait it states).
        "RATELIMIT_HEADERS_ENABLED": False,
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour"),
        "LINK_RATE_LIMIT": os.environ.get("LINK_RATE_LIMIT", "20 per minute;100 per hour"),
        # Exports of one's own data (issue 19), per person over the page and the API.
        "EXPORT_RATE_LIMIT": os.environ.get("EXPORT_RATE_LIMIT", "3 per hour;10 per day"),
        # One-time SMS codes (ID-001/002): how long one lasts, how many tries it allows, how
        # soon a new one may go to the same number, and how many a number gets (per number;
        # per address the sign-up and login limits apply).
        "PHONE_CODE_MINUTES": _int_at_least("PHONE_CODE_MINUTES", 10, 1),
        "PHONE_CODE_TRIES": _int_at_least("PHONE_CODE_TRIES", 5, 1),
        "PHONE_CODE_RESEND_SECONDS": _int_at_least("PHONE_CODE_RESEND_SECONDS", 60, 0),
        "PHONE_CODE_RATE_LIMIT": os.environ.get("PHONE_CODE_RATE_LIMIT",
                                                "5 per hour;10 per day"),
        # The link that proves an e-mail address (issue 21): how long it works, and how
        # soon another may go to the same account or address.
        "EMAIL_PROOF_HOURS": _int_at_least("EMAIL_PROOF_HOURS", 24, 1),
        "EMAIL_PROOF_RESEND_SECONDS": _int_at_least("EMAIL_PROOF_RESEND_SECONDS", 60, 0),
        # One invite text per phone per family in this many seconds (resend, re-invite).
        "INVITE_MESSAGE_SECONDS": _int_at_least("INVITE_MESSAGE_SECONDS", 60, 0),
        "FORCE_HTTPS": _bool("FORCE_HTTPS", production),
        "BABEL_DEFAULT_LOCALE": "vi",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "Asia/Ho_Chi_Minh"),
        "LANGUAGES": ("vi", "en"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        # JSON lines in production, text elsewhere (app/observability.py).
        "LOG_FORMAT": log_format(production),
        "PROXY_FIX_HOPS": int(os.environ.get("PROXY_FIX_HOPS", "0")),
        "PLANS": _plans(os.environ.get("PLANS")),
        "API_TOKEN_TTL_DAYS": int(os.environ.get("API_TOKEN_TTL_DAYS", "90")),
        "RISK_WINDOW_DAYS": _risk_window_days(os.environ.get("RISK_WINDOW_DAYS")),
        "RISK_THRESHOLDS": _risk_thresholds(os.environ.get("RISK_THRESHOLDS")),
        # The outbox worker counts the review queue again this often (0: never; a timer
        # runs `flask staff-queue-count` instead): app/staff/queue_count.py.
        "RISK_RECOUNT_SECONDS": _int_at_least("RISK_RECOUNT_SECONDS", 300, 0),
    }
    config.update(_metrics())
    config.update(_payment())
    config.update(_notifications())
    config.update(overrides)
    # An incoming X-Request-ID is taken only from a proxy we trust: by default, when the
    # portal sits behind one (PROXY_FIX_HOPS); TRUST_REQUEST_ID says so either way.
    config.setdefault("TRUST_REQUEST_ID", _bool("TRUST_REQUEST_ID",
                                                config["PROXY_FIX_HOPS"] > 0))
    if config["LOG_FORMAT"] not in ("json", "text"):
        raise ConfigError(f"LOG_FORMAT must be json or text, not {config['LOG_FORMAT']!r}.")
    # Several processes on memory:// each count their own limits: the login limit of 10 a
    # minute let 25-38 tries through 4 workers (issue 15, F1). app/gunicorn_conf.py refuses
    # the same when gunicorn is given more than one worker.
    if (production and per_process_limits(config) and config["WEB_CONCURRENCY"] != 1
            and not running_a_command()):
        raise ConfigError(shared_limits_advice(config["WEB_CONCURRENCY"]))
    return config
