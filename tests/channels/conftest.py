"""A local fake provider endpoint per test (``fake_provider(kind)``)."""

from __future__ import annotations

import pytest

from tests.channels.fakes import FakeProvider, serve


@pytest.fixture
def fake_provider():
    servers = []

    def start(kind: str, script: list[str] | None = None) -> FakeProvider:
        fake = FakeProvider(kind, list(script or []))
        servers.append(serve(fake))
        return fake

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
