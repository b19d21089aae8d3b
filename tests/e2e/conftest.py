"""Headless Chromium against a real uvicorn server (one per test, per backend).

The server runs in a background thread on a socket that is already listening when the
test starts, so the browser never races the server's start-up. Chromium is
/usr/bin/chromium (or ``LINLI_CHROMIUM``); without it the browser tests skip locally and
fail under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.services import IN_CI

CHROMIUM = os.environ.get("LINLI_CHROMIUM", "/usr/bin/chromium")
INSTALL = "apt-get install -y chromium fonts-noto-cjk"
# Browser contexts: a phone (member H5) and a desktop (console).
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}
DESK = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN"}


def _missing(reason: str) -> None:
    msg = f"{reason}. Install it with: {INSTALL}"
    if IN_CI:
        pytest.fail(f"CI needs Chromium for the browser tests: {msg}", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _missing(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is missing (pip install -e '.[test]')")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield b
        finally:
            b.close()


class LiveServer:
    """uvicorn serving ``app`` in a thread, on a socket bound before it starts."""

    def __init__(self, app) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)  # connections wait in the backlog until the server accepts
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="linli-live-server", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    """The test app (tests/conftest.py: this test's backend, clock and settings), served."""
    server = LiveServer(app).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def console_errors() -> list[str]:
    """Collects browser console errors (a CSP violation shows up here)."""
    return []


def watch(page, errors: list[str]) -> None:
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))


SCREENSHOTS = bool(os.environ.get("LINLI_SCREENSHOTS"))


def shot(page, path: str) -> None:
    """The whole page as one tall screen, so fixed bars sit at its bottom as on a phone
    (a plain full-page capture leaves them where the first screen ended), for a person to
    look at: only with ``LINLI_SCREENSHOTS=1`` (each costs about half a second and asserts
    nothing, so the suite's run leaves them out)."""
    if not SCREENSHOTS:
        return
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    try:
        page.screenshot(path=path)
    finally:
        page.set_viewport_size(size)


def fits_the_phone(page) -> None:
    """Nothing sticks out sideways on a 390-px phone."""
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"], page.url
