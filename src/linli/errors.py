"""Domain errors with stable codes, rendered as RFC 9457 problem+json by the web layer.

Services raise these; they never know about HTTP beyond the status each kind maps to.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"
    title = "Bad request"
    # True when the work done before the error must still be committed (e.g. counting a
    # wrong one-time code); the request's unit of work commits it, then answers the error.
    keep_changes = False

    def __init__(self, code: str | None = None, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or code or self.code)
        if code:
            self.code = code
        self.detail = detail
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://linli.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail or self.title,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class Invalid(DomainError):
    status = 422
    code = "validation.invalid"
    title = "Invalid input"


class Unauthorized(DomainError):
    status = 401
    code = "auth.unauthorized"
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    code = "auth.forbidden"
    title = "Not allowed"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Locked(DomainError):
    status = 423
    code = "locked"
    title = "Locked"


class TooManyRequests(DomainError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, code: str | None = None, detail: str = "", retry_after: int = 60, **extra: Any) -> None:
        super().__init__(code, detail, **extra)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    status = 503
    code = "unavailable"
    title = "Temporarily unavailable"
