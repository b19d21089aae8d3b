"""Every error leaves as RFC 9457 problem+json with a stable ``code``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from linli import outages
from linli.errors import DomainError, TooManyRequests

log = logging.getLogger("linli.web")
PROBLEM = "application/problem+json"

_HTTP_CODES = {
    400: "request.bad",
    401: "auth.unauthorized",
    403: "auth.forbidden",
    404: "http.not_found",
    405: "http.method_not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media_type",
}

# The OpenAPI ``responses`` of an endpoint that may answer a problem (every API router uses it).
PROBLEMS = {400: {"description": "Problem"}, 401: {"description": "Problem"}, 404: {"description": "Problem"}, 409: {"description": "Problem"}, 422: {"description": "Problem"}, 423: {"description": "Problem"}, 429: {"description": "Problem"}}


def http_code(status: int) -> str:
    """The stable code of a plain HTTP error (404 ``http.not_found``, ...)."""
    return _HTTP_CODES.get(status, f"http.{status}")


def problem(status: int, code: str, title: str, detail: str = "", instance: str | None = None, **extra) -> JSONResponse:
    body = {"type": f"https://linli.dev/problems/{code}", "title": title, "status": status, "code": code, "detail": detail or title}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _validation_code(errors: list[dict]) -> tuple[int, str, str]:
    types = {e.get("type") for e in errors}
    if "json_invalid" in types:
        return 400, "request.malformed_json", "The request body is not valid JSON."
    if types and types <= {"extra_forbidden"}:
        return 422, "validation.unknown_field", "The request has fields this endpoint does not accept."
    return 422, "validation.invalid", "Some fields are missing or invalid."


def _clean_errors(errors) -> list[dict]:
    out = []
    for e in errors:
        out.append({"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type"), "msg": e.get("msg")})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError):
        resp = JSONResponse(exc.to_problem(request.url.path), status_code=exc.status, media_type=PROBLEM)
        if isinstance(exc, TooManyRequests):
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = _clean_errors(exc.errors())
        status, code, title = _validation_code(errors)
        return problem(status, code, title, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = http_code(exc.status_code)
        detail = exc.detail if isinstance(exc.detail, str) else ""
        resp = problem(exc.status_code, code, detail or code, detail, instance=request.url.path)
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        return resp

    async def _unexpected(request: Request, exc: Exception):
        down = outages.dependency_down(exc)
        if down:
            log.warning("%s unavailable on %s %s: %s", down, request.method, request.url.path, exc.__class__.__name__)
            return unavailable(down, request.url.path)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal", "Internal error", "Something went wrong on our side; it has been logged.", instance=request.url.path)

    # The dependencies' own error classes are handled inside the middleware stack (so the
    # access log and metrics see the 503); anything else falls through to the outermost
    # handler.
    for cls in (Exception, *outages.DEPENDENCY_ERRORS):
        app.add_exception_handler(cls, _unexpected)


def unavailable(dependency: str, instance: str | None = None) -> JSONResponse:
    """503 ``<dependency>.unavailable`` with ``Retry-After``. The request was rolled back,
    unless the connection died while committing (then its outcome is unknown), so a write
    is retried with the same ``Idempotency-Key``, which gives it one effect either way."""
    resp = problem(503, f"{dependency}.unavailable", "Temporarily unavailable",
                   f"The {dependency} is not answering. Try again in a few seconds; retry a write with the same Idempotency-Key.", instance=instance)
    resp.headers["Retry-After"] = str(outages.RETRY_AFTER_SECONDS)
    return resp
