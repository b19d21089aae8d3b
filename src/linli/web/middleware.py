"""Pure-ASGI middleware: request ids and JSON access logs, metrics, body size limit,
security headers, the edge signals (device and IP) behind a request."""

from __future__ import annotations

import json
import time
import uuid

import structlog
from prometheus_client import Counter, Histogram

from linli import edge
from linli import logging as linli_logging

MAX_BODY = 1024 * 1024  # 1 MB
# Picture uploads (checked again, at 5 MB, when decoded) may be larger.
UPLOAD_BODY = 6 * 1024 * 1024
UPLOAD_SUFFIXES = ("/image", "/uploads")

REQUESTS = Counter("linli_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("linli_http_request_seconds", "HTTP request latency", ["method", "route"])


def _problem_bytes(status: int, code: str, title: str) -> bytes:
    return json.dumps({"type": f"https://linli.dev/problems/{code}", "title": title, "status": status, "code": code, "detail": title}).encode()


class BodyLimit:
    """Refuses bodies over 1 MB with 413 problem+json, by Content-Length or while reading."""

    def __init__(self, app, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        limit = UPLOAD_BODY if scope.get("path", "").endswith(UPLOAD_SUFFIXES) else self.max_body
        too_big = False
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                too_big = True
        if too_big:
            return await self._refuse(send)
        seen = 0
        over = False

        async def limited_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise _TooLarge()
            return message

        started = False
        replaced = False

        async def tracking_send(message):
            nonlocal started, replaced
            if message["type"] == "http.response.start":
                started = True
                if over:
                    # The app turned the refusal into an answer of its own (FastAPI reports
                    # any error while reading a body as 400): answer 413 in its place.
                    replaced = True
                    return await self._refuse(send)
            elif replaced:
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    @staticmethod
    async def _refuse(send) -> None:
        body = _problem_bytes(413, "request.too_large", "The request body is larger than 1 MB.")
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self)"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
CSP = b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
# Swagger UI boots with one inline script; it is served only under /docs.
DOCS_CSP = b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"


class RequestContext:
    """Request id (from ``X-Request-ID`` or new), security headers, JSON access log,
    Prometheus metrics."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        structlog.contextvars.bind_contextvars(request_id=rid)
        start = time.perf_counter()
        status_holder = {"status": 500}
        path = scope.get("path", "")

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                hdrs = list(message.get("headers", []))
                hdrs.append((b"x-request-id", rid.encode()))
                hdrs.extend(SECURITY_HEADERS)
                hdrs.append((b"content-security-policy", DOCS_CSP if path.startswith("/docs") else CSP))
                message["headers"] = hdrs
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            REQUESTS.labels(method, route_path, str(status_holder["status"])).inc()
            LATENCY.labels(method, route_path).observe(elapsed)
            linli_logging.access(method=method, path=path, status=status_holder["status"], ms=round(elapsed * 1000, 1))
            structlog.contextvars.clear_contextvars()


# Not pages: no device cookie is set on these (the API identifies a device by X-Device-Id).
NOT_PAGES = ("/api/", "/static/", "/media/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi")


def _cookie(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


class EdgeSignals:
    """Binds the request's ``edge.EdgeFacts`` (hashed device id and client IP) for the
    producers of logins, bindings and orders. The device is ``X-Device-Id`` when valid, else
    the ``linli_device`` cookie; a page request with neither gets a new random id in a
    first-party cookie (HttpOnly, SameSite=Lax, two years), set once. An invalid header or
    cookie is ignored, never an error."""

    def __init__(self, app, secure: bool = False) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = list(scope.get("headers") or [])
        sent = next((v for k, v in headers if k == edge.DEVICE_HEADER.encode()), None)
        device = edge.valid_device_id(sent.decode("latin-1") if sent is not None else None) or edge.valid_device_id(_cookie(headers, edge.DEVICE_COOKIE))
        new_cookie = None
        if device is None and not scope.get("path", "").startswith(NOT_PAGES):
            device = new_cookie = edge.new_device_id()
        client = scope.get("client")
        token = edge.bind(edge.facts_for(device, client[0] if client else None))

        async def send_wrapper(message):
            if new_cookie is not None and message["type"] == "http.response.start":
                cookie = f"{edge.DEVICE_COOKIE}={new_cookie}; Max-Age={edge.DEVICE_COOKIE_MAX_AGE}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            edge.reset(token)
