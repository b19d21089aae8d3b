"""Where the real services come from in tests, and what to do when one is missing.

Locally a missing service skips its tests with a message saying what to start; under
``CI=true`` it fails them, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

START = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start; "
    "export LINLI_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test",
    "redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""; export LINLI_TEST_REDIS_URL=redis://127.0.0.1:6379/15',
    "rabbitmq": "rabbitmq-server -detached; export LINLI_TEST_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/%2F",
}
ENV = {"postgresql": "LINLI_TEST_DATABASE_URL", "redis": "LINLI_TEST_REDIS_URL", "rabbitmq": "LINLI_TEST_BROKER_URL"}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str, default_port: int) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def service_url(kind: str, default_port: int) -> str:
    """The URL of a real service for this test, or skip (locally) / fail (CI)."""
    url = os.environ.get(ENV[kind], "")
    problem = None
    if not url:
        problem = f"{ENV[kind]} is not set"
    elif not _reachable(url, default_port):
        problem = f"{kind} at {url} is not reachable"
    if problem:
        msg = f"{problem}. Start it with: {START[kind]}"
        if IN_CI:
            pytest.fail(f"CI needs {kind}: {msg}", pytrace=False)
        pytest.skip(msg)
    return url
