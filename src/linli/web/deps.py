"""Request dependencies: the unit of work, the caller, the clock.

Where the transaction ends, and why: sync endpoints run on the shared request thread pool,
and FastAPI serialises their responses in another pooled call. If a request kept its
database connection (or, on SQLite, the write lock) open across such a hop, it could wait
for a free pooled thread while every pooled thread waits for that connection or lock — a
convoy that stalls under load. So routes are ``UnitOfWorkRoute``: the endpoint's session
connects lazily inside the endpoint's own thread and is committed (or rolled back) in that
same thread as the endpoint returns, before the response is built. The dependency then
only closes it. Authentication reads only the signed token, never the database.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from linli.db import is_write_refused
from linli.errors import DomainError, Unauthorized
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.security import read_token_claims
from linli.web.context import AppContext

SESSION_COOKIE = "linli_token"


# Dependencies that do no I/O are ``async def`` so FastAPI runs them on the event loop
# instead of sending each through the thread pool.


async def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()  # hands the connection back before the response is built


def _committing(endpoint: Callable) -> Callable:
    """Wrap a sync endpoint so its sessions commit in the endpoint's thread when it
    returns, roll back when it raises (errors that keep their changes commit them).

    A read request (GET, HEAD) starts on a reader session; if it turns out to write, its
    first write is refused (on SQLite: a query-only connection), everything it did is
    rolled back, and the endpoint runs once more on a write session. So a GET endpoint
    must not touch anything outside the database (Redis, a provider) before its first
    write: that would happen twice. Such an endpoint should be a POST."""
    if inspect.iscoroutinefunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    def run(*args, **kwargs):
        sessions = [v for v in kwargs.values() if isinstance(v, Session)]
        try:
            return _run_once(endpoint, args, kwargs, sessions)
        except OperationalError as exc:
            if not (is_write_refused(exc) and _promote(sessions)):
                raise
        return _run_once(endpoint, args, kwargs, sessions)

    return run


def _run_once(endpoint: Callable, args, kwargs, sessions: list[Session]):
    try:
        result = endpoint(*args, **kwargs)
    except DomainError as exc:
        for s in sessions:
            _finish(s, exc.keep_changes)
        raise
    except BaseException:
        for s in sessions:
            _finish(s, False)
        raise
    for s in sessions:
        _finish(s, True)
    return result


def _promote(sessions: list[Session]) -> bool:
    """Move reader sessions to the write engine; False if none was a reader."""
    return any([s.info["linli_db"].promote(s) for s in sessions if "linli_db" in s.info])


class UnitOfWorkRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable, **kwargs) -> None:
        super().__init__(path, _committing(endpoint), **kwargs)
        self._head = self.path.partition("{")[0]  # every path this route matches starts so

    def matches(self, scope) -> tuple[Match, dict]:
        # The app tries its ~200 routes in order; refusing most on their literal head is a
        # string compare instead of FastAPI's scope look-ups and a regex. Not when the route
        # is matched through a nested inclusion (its path is then the inclusion's).
        if scope["type"] == "http" and not scope.get("root_path") and not _included(scope) and not scope["path"].startswith(self._head):
            return Match.NONE, {}
        return super().matches(scope)


def _included(scope) -> bool:
    """Whether FastAPI is matching a route of a nested ``include_router`` (0.16x keeps its
    effective route in the scope under these keys)."""
    return scope.get("fastapi", {}).get("effective_route_context") is not None


def router(**kwargs) -> APIRouter:
    """An APIRouter whose routes end their unit of work in the endpoint's thread."""
    return APIRouter(route_class=UnitOfWorkRoute, **kwargs)


_READS = frozenset({"GET", "HEAD"})


async def _unit_of_work(request: Request) -> AsyncIterator[Session]:
    """One session per request. ``UnitOfWorkRoute`` commits (or rolls back) it in the
    endpoint's thread as the endpoint returns, which also hands its connection back; so
    closing it here does no I/O and can run on the event loop."""
    async for session in _session(request, request.method not in _READS):
        yield session


async def _write_unit_of_work(request: Request) -> AsyncIterator[Session]:
    """A write session whatever the method: for a GET that must write after calling a
    provider — an OAuth callback, whose one-time code run again on a promoted reader
    session would be spent twice."""
    async for session in _session(request, True):
        yield session


async def _session(request: Request, write: bool) -> AsyncIterator[Session]:
    db = request.app.state.ctx.db
    session = (db.sessions if write else db.reader_sessions)()
    session.info["linli_db"] = db
    try:
        yield session
    finally:
        if session.in_transaction():  # only if an endpoint bypassed UnitOfWorkRoute
            await run_in_threadpool(session.close)
        else:
            session.close()


async def _replica_session(request: Request) -> AsyncIterator[Session]:
    """A read-only session on the read replica (``LINLI_DATABASE_REPLICA_URL``; without one,
    a reader session of the primary): for dashboards, which read rollups and write nothing."""
    db = request.app.state.ctx.db
    session = db.read_sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


async def get_now(request: Request) -> datetime:
    return request.app.state.ctx.now()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _token_from(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("auth.token_invalid", "Use 'Authorization: Bearer <token>'.")
        return token.strip()
    return request.cookies.get(SESSION_COOKIE)


def principal_from_request(request: Request) -> Principal | None:
    token = _token_from(request)
    if not token:
        return None
    ctx: AppContext = request.app.state.ctx
    member_id, phone = read_token_claims(ctx.settings.secret_key, token, ctx.now())
    return identity.principal_from_token(ctx.settings, member_id, phone)


async def optional_principal(request: Request) -> Principal | None:
    return principal_from_request(request)


async def current_principal(request: Request) -> Principal:
    # Not layered on optional_principal: FastAPI's per-request cost is per dependency.
    who = principal_from_request(request)
    if who is None:
        raise Unauthorized("auth.unauthorized", "Log in first: send 'Authorization: Bearer <token>'.")
    return who


DB = Annotated[Session, Depends(_unit_of_work, scope="function")]
WriteDB = Annotated[Session, Depends(_write_unit_of_work, scope="function")]
ReplicaDB = Annotated[Session, Depends(_replica_session, scope="function")]
Ctx = Annotated[AppContext, Depends(get_ctx)]
Now = Annotated[datetime, Depends(get_now)]
Who = Annotated[Principal, Depends(current_principal)]
MaybeWho = Annotated[Principal | None, Depends(optional_principal)]
