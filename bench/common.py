"""Shared benchmark plumbing: a fresh PostgreSQL database, the raw-SQL limit, a server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from linli import domains, migrate
from linli.config import Settings
from linli.db import Database

ROOT = Path(__file__).resolve().parent.parent
LIMIT_SCRIPT = ROOT.parent / "shared" / "limit" / "run.sh"
PG_ADMIN = os.environ.get("LINLI_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def fresh_database(name: str) -> str:
    """Drop and create ``name`` on the local PostgreSQL; returns its URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


SECRET = "bench-secret-0123456789abcdef0123456789"


def migrated_database(name: str) -> tuple[str, Database, dict[str, str]]:
    """A fresh PostgreSQL database ``name`` at the schema head with the domains loaded, and
    the environment a ``Server`` on it needs."""
    url = fresh_database(name)
    domains.bootstrap(Settings(database_url=url, secret_key=SECRET))
    db = Database(url)
    migrate.upgrade(db)
    return url, db, {"LINLI_DATABASE_URL": url, "LINLI_SECRET_KEY": SECRET, "LINLI_LOG_JSON": "true", "LINLI_RATE_LIMITS": ""}


def raw_limit(seconds: int = 10, clients: int = 16) -> dict[str, float]:
    """Run ../shared/limit/run.sh and parse its ``name value unit`` lines."""
    if not LIMIT_SCRIPT.exists():
        sys.exit(f"missing {LIMIT_SCRIPT}: the raw-SQL limit scripts live in ../shared/limit")
    out = subprocess.run(["bash", str(LIMIT_SCRIPT), str(seconds), str(clients)], capture_output=True, text=True, check=True).stdout
    figures = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            try:
                figures[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return figures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``linli serve`` as a subprocess (the way it is deployed). With ``background_nice``,
    the API processes only answer requests and one ``linli worker`` at that niceness does
    the rest (outbox, due jobs, the flash-sale queue's drainer), as a deployment that keeps
    the rush's CPU for the buyers would run it."""

    def __init__(self, env: dict[str, str], workers: int = 2, background_nice: int | None = None, defer_background: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker = None
        self.background_nice = background_nice
        if background_nice is not None:
            env = {**env, "LINLI_INLINE_DISPATCH": "false"}
        self.env = env
        if background_nice is not None and not defer_background:
            self.start_background()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "linli.cli", "serve", "--port", str(self.port), "--workers", str(workers)],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        sys.exit("the server did not start within 60 s")

    def start_background(self) -> None:
        """The ``linli worker`` (as on a worker machine of its own, when started after a rush)."""
        self.worker = subprocess.Popen(
            ["nice", "-n", str(self.background_nice), sys.executable, "-m", "linli.cli", "worker", "--interval", "5"],
            env={**os.environ, **self.env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )

    def stop(self) -> None:
        for proc in (self.proc, self.worker):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)


class Conn:
    """One keep-alive HTTP/1.1 connection with the least client work per request (httpx would
    spend more CPU than the server's gate on this 2-core machine)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def get(self, path: str, token: str) -> int:
        head = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        return (await self.post(head, b""))[0]

    async def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:  # the server closed an idle connection: reconnect once
            self.writer = None
            return await self.post(head, body)
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
