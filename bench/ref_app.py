"""The reference of issue 17: a bare app on the portal's stack, to measure the portal against.

    DATABASE_URL=sqlite:////tmp/ref.sqlite3 .venv/bin/python -m bench.ref_app   # schema + seed
    DATABASE_URL=… REF_SECRET_KEY=… .venv/bin/gunicorn -w 2 'bench.ref_app:app'
    # or the factory: gunicorn 'bench.ref_app:create_ref_app()'

What a competent developer writes in an afternoon with Flask, Flask-SQLAlchemy, Flask-Login
and Flask-WTF for the portal's two hot paths, and nothing more:

- its own tables (`ref_*`): users, a family group with its admin, members, one connection
  per member and its six permission rows, as typed SQLAlchemy 2.0 models with
  relationships; `seed()` makes an admin and a group of 10 members, every permission ON;
- on SQLite, WAL and foreign keys on (as the portal has them);
- Flask-Login over Flask's signed session cookie (a login page checking a werkzeug
  password hash; Flask-Login's user loader is one `SELECT` per request that needs the user)
  and Flask-WTF's `CSRFProtect` on every POST;
- the group page `GET /groups/<id>`: login required, 403 unless the user is the group's
  admin, 10 members × 6 switches rendered by a Jinja page from 3 queries (the group; the
  members with their user and connection, joined; their permissions, select-in) — four
  statements with the user loader's. Each switch is an htmx button posting the toggle (the
  page's CSRF token in `hx-headers`), about 14 kB of HTML;
- the toggle `POST /connections/<id>/permissions/<code>` (`enabled=on|off`, a WTForms form):
  login required, CSRF checked, 403 unless the user is the admin of the connection's group
  (read with the permission row in one joined query), the row updated and committed, the
  switch answered as an HTML fragment;
- `GET /ping`: "ok", no database, no user;
- the response headers a portal must send (CSP, nosniff, frame and referrer policy).

What it deliberately leaves out, because the issue's reference has none of it: audit
events, in-app notifications, rate limits, translations, business rules beyond the
ownership check, a confirmation before turning a permission OFF, the rest of the page (invites,
places, patients' blocks). Its SECRET_KEY is its own: `REF_SECRET_KEY`, or a random one
per process (then a session works only in the process that made it — several gunicorn
workers need REF_SECRET_KEY).
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask, abort, get_template_attribute, redirect, render_template, url_for
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import ForeignKey, String, UniqueConstraint, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import AnyOf, InputRequired

PERMISSIONS = (  # code, label — the portal's six permissions, in its order
    ("health_overview", "Xem tổng quan sức khỏe"),
    ("emergency_alert", "Nhận cảnh báo khẩn cấp"),
    ("task_config", "Thiết lập nhiệm vụ"),
    ("compliance_tracking", "Theo dõi tuân thủ"),
    ("proxy_execution", "Thực hiện thay"),
    ("encouragement", "Gửi lời động viên"),
)
CODES = tuple(code for code, _label in PERMISSIONS)
PASSWORD = "bench-2026"  # noqa: S105 - the bench accounts' password (bench/staff_generate.py's)


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()


def _now() -> datetime:
    return datetime.now(UTC)


class User(UserMixin, db.Model):
    __tablename__ = "ref_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))


class Group(db.Model):
    __tablename__ = "ref_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    admin_id: Mapped[int] = mapped_column(ForeignKey("ref_users.id"))

    admin: Mapped[User] = relationship()


class Member(db.Model):
    __tablename__ = "ref_members"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("ref_groups.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ref_users.id"))
    role: Mapped[str] = mapped_column(String(20))

    user: Mapped[User] = relationship()
    connection: Mapped[Connection] = relationship(back_populates="member")


class Connection(db.Model):
    """What a member may see and do in the group: six permission rows."""

    __tablename__ = "ref_connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("ref_groups.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("ref_members.id"), unique=True)

    member: Mapped[Member] = relationship(back_populates="connection")
    permissions: Mapped[list[Permission]] = relationship(order_by="Permission.id")

    @property
    def enabled(self) -> dict[str, bool]:
        return {p.code: p.is_enabled for p in self.permissions}


class Permission(db.Model):
    __tablename__ = "ref_permissions"
    __table_args__ = (UniqueConstraint("connection_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("ref_connections.id"))
    code: Mapped[str] = mapped_column(String(40))
    is_enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


class LoginForm(FlaskForm):
    phone = StringField("Số điện thoại", validators=[InputRequired()])
    password = PasswordField("Mật khẩu", validators=[InputRequired()])


class ToggleForm(FlaskForm):
    enabled = HiddenField(validators=[InputRequired(), AnyOf(("on", "off"))])


def _database_url(database_url: str | None) -> str:
    url = database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("Give the reference app a database: DATABASE_URL or "
                           "create_ref_app(database_url).")
    if url.startswith(("postgresql://", "postgres://")):  # psycopg 3, not psycopg2
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """What SQLite needs to serve several workers: WAL (readers and a writer side by side),
    and foreign keys checked as PostgreSQL does."""
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def create_ref_app(database_url: str | None = None, secret_key: str | None = None) -> Flask:
    """The reference app on `database_url` (default DATABASE_URL)."""
    app = Flask(__name__, template_folder="ref_templates")
    app.config.update(
        SQLALCHEMY_DATABASE_URI=_database_url(database_url),
        SECRET_KEY=secret_key or os.environ.get("REF_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_SAMESITE="Lax",
    )
    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)
    login_manager.init_app(app)
    login_manager.login_view = "login"
    csrf.init_app(app)

    @app.after_request
    def security_headers(response):
        response.headers["Content-Security-Policy"] = "default-src 'self'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    @app.get("/ping")
    def ping():
        return "ok"

    @app.route("/login", methods=["GET", "POST"])
    def login():
        form = LoginForm()
        if form.validate_on_submit():
            user = db.session.scalar(select(User).where(User.phone == form.phone.data))
            if user is not None and check_password_hash(user.password_hash,
                                                        form.password.data):
                login_user(user)
                group_id = db.session.scalar(select(Group.id).where(Group.admin_id == user.id))
                return redirect(url_for("group_page", group_id=group_id) if group_id
                                else url_for("ping"), code=303)
            form.form_errors.append("Sai số điện thoại hoặc mật khẩu.")
        return render_template("login.html", form=form)

    @app.post("/logout")
    @login_required
    def logout():
        logout_user()
        return redirect(url_for("login"), code=303)

    @app.get("/groups/<int:group_id>")
    @login_required
    def group_page(group_id: int):
        group = db.get_or_404(Group, group_id)
        if group.admin_id != current_user.id:
            abort(403)
        members = db.session.scalars(
            select(Member).where(Member.group_id == group.id).order_by(Member.id)
            .options(joinedload(Member.user),
                     joinedload(Member.connection).selectinload(Connection.permissions))
        ).all()
        return render_template("group.html", group=group, members=members,
                               permissions=PERMISSIONS)

    @app.post("/connections/<int:connection_id>/permissions/<code>")
    @login_required
    def toggle(connection_id: int, code: str):
        form = ToggleForm()
        if not form.validate_on_submit():
            abort(400)
        row = db.session.execute(
            select(Permission, Group.admin_id)
            .join(Connection, Connection.id == Permission.connection_id)
            .join(Group, Group.id == Connection.group_id)
            .where(Permission.connection_id == connection_id, Permission.code == code)
        ).one_or_none()
        if row is None:
            abort(404)
        permission, admin_id = row
        if admin_id != current_user.id:
            abort(403)
        on = form.enabled.data == "on"
        permission.is_enabled = on
        db.session.commit()
        switch = get_template_attribute("_switch.html", "switch")
        return switch(connection_id, code, dict(PERMISSIONS).get(code, code), on)

    return app


@dataclass
class RefFixture:
    group_id: int
    admin_id: int
    admin_phone: str
    member_phones: list[str]
    connections: list[int]


def seed(app: Flask, *, members: int = 10) -> RefFixture:
    """Create the tables and one family: an admin and `members` members, each with a
    connection and six permission rows, all ON. The accounts' password is PASSWORD."""
    password_hash = generate_password_hash(PASSWORD)
    with app.app_context():
        db.create_all()
        if db.session.scalar(select(User.id).limit(1)) is not None:
            raise RuntimeError("The reference database already has users.")
        admin = User(phone="0900000000", name="Nguyễn Văn An", password_hash=password_hash)
        group = Group(name="Gia đình Nguyễn Văn An", admin=admin)
        db.session.add(group)
        db.session.flush()
        names = ("Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em",
                 "Vũ Thị Phương", "Đặng Văn Giang", "Bùi Thị Hạnh", "Đỗ Văn Khoa",
                 "Ngô Thị Lan", "Dương Văn Minh")
        rows = []
        for n in range(members):
            user = User(phone=f"09000{n + 1:05d}", name=names[n % len(names)],
                        password_hash=password_hash)
            member = Member(group_id=group.id, user=user, role="caregiver")
            member.connection = Connection(group_id=group.id, permissions=[
                Permission(code=code) for code in CODES])
            rows.append(member)
        db.session.add_all(rows)
        db.session.commit()
        fixture = RefFixture(group_id=group.id, admin_id=admin.id, admin_phone=admin.phone,
                             member_phones=[m.user.phone for m in rows],
                             connections=[m.connection.id for m in rows])
        db.session.remove()
    return fixture


def __getattr__(name: str):
    """`bench.ref_app:app` for gunicorn: the app on DATABASE_URL, made when first asked."""
    if name == "app":
        globals()["app"] = made = create_ref_app()
        return made
    raise AttributeError(name)


def main() -> int:
    """Create the schema and seed DATABASE_URL's database."""
    try:
        fixture = seed(create_ref_app())
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"reference group {fixture.group_id} (/groups/{fixture.group_id}): log in at /login "
          f"as {fixture.admin_phone}, password {PASSWORD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
