"""Configuration read from the environment, with safe defaults.

Every variable is listed in docs/configuration.md.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

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


def load_config(instance_path: str, overrides: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment (and test overrides)."""
    overrides = dict(overrides or {})
    env = overrides.pop("APP_ENV", None) or os.environ.get("APP_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}.")
    production = env == "production"
    url = database_url(overrides.pop("DATABASE_URL", None) or os.environ.get("DATABASE_URL"),
                       instance_path)
    config = {
        "APP_ENV": env,
        "TESTING": env == "test",
        "SECRET_KEY": overrides.pop("SECRET_KEY", None) or _secret_key(env, instance_path),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SQLITE_BUSY_TIMEOUT_MS": int(os.environ.get("SQLITE_BUSY_TIMEOUT_MS", "5000")),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "INVITE_TTL_DAYS": int(os.environ.get("INVITE_TTL_DAYS", "7")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure everywhere but on a developer's plain-HTTP machine.
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", env != "development"),
        "SESSION_COOKIE_NAME": "fc_session",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=int(os.environ.get("SESSION_HOURS", "12"))),
        "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        "RATELIMIT_HEADERS_ENABLED": True,
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour"),
        "FORCE_HTTPS": _bool("FORCE_HTTPS", production),
        "BABEL_DEFAULT_LOCALE": "vi",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("DISPLAY_TIMEZONE", "Asia/Ho_Chi_Minh"),
        "LANGUAGES": ("vi", "en"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "PROXY_FIX_HOPS": int(os.environ.get("PROXY_FIX_HOPS", "0")),
    }
    config.update(overrides)
    return config
