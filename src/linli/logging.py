"""structlog set-up: JSON lines (with the request id bound per request) or console."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

import structlog

ACCESS = "linli.access"
_access_log = structlog.get_logger(ACCESS)
_json_handler: logging.Handler | None = None  # the handler configure() installed for JSON lines


def configure(json_logs: bool = True, level: int = logging.INFO) -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    global _json_handler
    _json_handler = handler if json_logs else None
    root.setLevel(level)
    # uvicorn's access lines repeat ours; httpx and httpcore log every outbound request line
    # at INFO, which would put provider URLs (and whatever a URL carries) in the logs.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def access(**fields) -> None:
    """The access log's line for a request. Through structlog and stdlib logging it cost a
    tenth of a cheap request's CPU; with the JSON configuration in place (and nothing else
    listening on the root logger) the same line — the fields, ``event``, the bound context,
    ``level`` and ``timestamp``, in structlog's order — is rendered here and written to that
    handler's stream."""
    handler = _json_handler
    root = logging.root
    if handler is None or root.handlers != [handler] or not logging.getLogger(ACCESS).isEnabledFor(logging.INFO):
        _access_log.info("request", **fields)
        return
    fields["event"] = "request"
    for key, value in structlog.contextvars.get_contextvars().items():
        fields.setdefault(key, value)
    fields["level"] = "info"
    fields["timestamp"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    line = json.dumps(fields, default=repr) + "\n"
    with handler.lock:
        handler.stream.write(line)
        handler.flush()
