"""One commit per request, at one place (STYLE.md: load → service → commit → respond).

Views and API routes call services and never commit; services write, flush and never
commit. This module is where the work of a request, or of a command, is committed:

- install(app): every request's view runs inside the boundary. A view that raises rolls
  back (the error handlers answer); otherwise its answer is made and the transaction
  commits when the status is below 400 and rolls back from 400 on: a refused action leaves
  nothing written. A commit that fails rolls back and is answered as an error (an
  IntegrityError as a Conflict, anything else by the 500 page), never as the success the
  view made — its flashes and login go with it.
- keep_on_refusal(): a service whose refusal must still keep what it wrote (a wrong SMS
  code's counted try, a failed login's audit event) says so; the boundary then commits
  that refusal too. Only for a refusal's own write, with nothing else pending.
- attempt(service, ...): a view that answers a service's refusal itself (a flash and a 303,
  a form with its errors) gets (result, None) or (None, error), the refused writes already
  undone — a 303 is not a 4xx, so they must not wait for the boundary.
- after_commit(make): an answer made after the commit, from committed state (htmx
  fragments of a write), read again as every commit expires what the session holds; or,
  with expire=False, from the rows the view holds, which are what it committed (for an
  answer made of rows the service locked and changed itself: the permission toggle).
- committed(): the same unit of work outside a request (CLI commands, the outbox worker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

from flask import Flask, Response, g
from flask.globals import request_ctx
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from app.errors import SAVED_BEFORE_THE_ANSWER, Conflict, DomainError
from app.extensions import db

_KEEP = "fc_keep_on_refusal"
_LOGIN_USER = "_login_user"  # where Flask-Login keeps the request's user
_NONE = object()


def keep_on_refusal() -> None:
    """What this transaction wrote so far is kept even when the request is then refused
    (a 4xx, or a DomainError raised): the refusal's own record, e.g. a counted try."""
    db.session.info[_KEEP] = True


def _kept() -> bool:
    return bool(db.session.info.get(_KEEP))


def _end(commit: bool) -> None:
    db.session.info.pop(_KEEP, None)
    if commit:
        db.session.commit()
    else:
        db.session.rollback()


def attempt(service: Callable, /, *args, **kwargs):
    """Call a service for a view that answers its refusal itself: (result, None), or
    (None, error) with the transaction rolled back — unless the service kept its refusal
    (keep_on_refusal), whose writes the boundary then commits."""
    try:
        return service(*args, **kwargs), None
    except DomainError as exc:
        undo_refused()
        return None, exc


def undo_refused() -> None:
    """A view caught a service's DomainError and goes on to answer it: roll back what the
    service wrote, unless it kept its refusal (keep_on_refusal)."""
    if not _kept():
        _end(commit=False)


class AfterCommit:
    """A view's answer, made by the boundary right after the commit (see after_commit)."""

    __slots__ = ("expire", "make")

    def __init__(self, make: Callable[[], object], expire: bool):
        self.make, self.expire = make, expire


def after_commit(make: Callable[[], object], *, expire: bool = True) -> AfterCommit:
    """Return this from a view whose answer shows what it wrote: `make()` (anything a view
    may return) runs after the commit, so a commit that fails never shows a success.

    expire=False keeps the loaded rows as they are through the commit (they are expired
    once the answer is made): no second read of them, for an answer made only of rows the
    service loaded and changed through the ORM. Not for rows changed by bulk UPDATEs that
    skip the session, or collections that a new row joined: those need the fresh read."""
    return AfterCommit(make, expire)


def install(app: Flask) -> None:
    """Run every request's view inside the boundary: pages, the API, routes added later."""
    dispatch = app.dispatch_request

    @wraps(dispatch)
    def dispatch_in_one_transaction():
        return _answer(app, dispatch)

    app.dispatch_request = dispatch_in_one_transaction


def _answer(app: Flask, dispatch: Callable[[], object]) -> Response:
    # The cookie session as it came in, put back if the commit fails: a flash or a login
    # made for a success that was not saved must not outlive it. dict.copy does not
    # mark the session accessed (no Vary: Cookie for the API's bearer requests). The user
    # Flask-Login holds for the request goes back too (the error page is the old user's).
    session = request_ctx.session
    before = dict.copy(session) if session is not None else None
    user_before = g.get(_LOGIN_USER, _NONE)
    db.session.info.pop(_KEEP, None)
    try:
        rv = dispatch()
    except DomainError:
        if _kept():
            _commit()  # the refusal's own record; the error handlers answer the refusal
        else:
            _end(commit=False)
        raise
    except BaseException:
        _end(commit=False)
        raise
    try:
        if isinstance(rv, AfterCommit):
            return _commit_then(app, rv)
        response = app.make_response(rv)
        if response.status_code < 400 or _kept():
            _commit()
        else:
            _end(commit=False)
        return response
    except BaseException:
        if g.get(SAVED_BEFORE_THE_ANSWER):
            raise  # saved: the session and login that go with it stay
        if session is not None and before is not None:
            dict.clear(session)
            dict.update(session, before)
        if user_before is _NONE:
            g.pop(_LOGIN_USER, None)
        else:
            setattr(g, _LOGIN_USER, user_before)
        raise


def _commit_then(app: Flask, answer: AfterCommit) -> Response:
    if answer.expire:
        _commit()
        setattr(g, SAVED_BEFORE_THE_ANSWER, True)
        return app.make_response(answer.make())
    sa_session = db.session()
    expire = sa_session.expire_on_commit
    sa_session.expire_on_commit = False  # what the view holds is what it committed
    try:
        _commit()
    finally:
        sa_session.expire_on_commit = expire
    setattr(g, SAVED_BEFORE_THE_ANSWER, True)
    try:
        return app.make_response(answer.make())
    finally:
        if expire:
            sa_session.expire_all()  # as the commit would have, for what runs after


def _commit() -> None:
    try:
        _end(commit=True)
    except IntegrityError as exc:
        _end(commit=False)
        # The services turn a constraint into a Conflict at their flush; one caught only
        # at the commit is answered the same way, with the 500's words: nothing was saved.
        raise Conflict(_("An unexpected error happened. Nothing was saved; please try "
                         "again.")) from exc
    except BaseException:
        _end(commit=False)
        raise


@contextmanager
def committed() -> Iterator[None]:
    """A unit of work outside a request (a command, one outbox message): committed when
    the block ends, rolled back if it raises."""
    try:
        yield
    except BaseException:
        _end(commit=False)
        raise
    try:
        _end(commit=True)
    except BaseException:
        _end(commit=False)
        raise
