"""Request dependencies: the unit of work, the caller, the clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from linli.errors import DomainError, Unauthorized
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.security import read_token
from linli.web.context import AppContext

SESSION_COOKIE = "linli_token"


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def _unit_of_work(request: Request) -> Iterator[Session]:
    """One session per request, committed after the endpoint returns (before the
    response is sent); rolled back on error, except errors that keep their changes."""
    ctx: AppContext = request.app.state.ctx
    session = ctx.db.sessions()
    try:
        yield session
        session.commit()
    except DomainError as exc:
        if exc.keep_changes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_now(request: Request) -> datetime:
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


def optional_principal(request: Request, s: Annotated[Session, Depends(_unit_of_work, scope="function")]) -> Principal | None:
    token = _token_from(request)
    if not token:
        return None
    ctx: AppContext = request.app.state.ctx
    member_id = read_token(ctx.settings.secret_key, token, ctx.now())
    who = identity.principal_for(s, ctx.settings, member_id)
    if who is None:
        raise Unauthorized("auth.token_invalid", "The access token is not valid.")
    return who


def current_principal(who: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if who is None:
        raise Unauthorized("auth.unauthorized", "Log in first: send 'Authorization: Bearer <token>'.")
    return who


DB = Annotated[Session, Depends(_unit_of_work, scope="function")]
Ctx = Annotated[AppContext, Depends(get_ctx)]
Now = Annotated[datetime, Depends(get_now)]
Who = Annotated[Principal, Depends(current_principal)]
MaybeWho = Annotated[Principal | None, Depends(optional_principal)]
