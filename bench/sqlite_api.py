"""The embedded default under load: the demo on SQLite, one API process, measured with wrk.

Reads (``GET /api/v1/me``) and a write (``PATCH /api/v1/me``) are each driven by ``wrk``
(Debian package ``wrk``) at ``--connections`` connections for ``--seconds`` seconds against
``linli serve`` on a freshly seeded demo database, the way ``linli demo`` runs. Prints
requests per second and latency (mean, p99). SQLite has no raw-SQL limit script in
``../shared/limit`` (those measure PostgreSQL), so these figures compare Linli with itself
across changes, with the same load generator.

    python -m bench.sqlite_api [--seconds 10] [--connections 8]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from bench.common import Server

PATCH_SCRIPT = """
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, '{"nickname": "压测' .. (counter % 1000) .. '"}')
end
"""


def wrk(url: str, token: str, seconds: int, connections: int, script: str | None = None) -> dict[str, float]:
    args = ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script or "")
    try:
        if script:
            args += ["-s", f.name]
        out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "mean_ms": _ms(re.search(r"Latency\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="linli-bench-sqlite-"))
    env = {"LINLI_DATABASE_URL": f"sqlite:///{tmp}/demo.db", "LINLI_MEDIA_DIR": str(tmp / "media"), "LINLI_PLATFORM_ADMINS": "13800000000"}
    subprocess.run([sys.executable, "-m", "linli.cli", "demo", "--no-serve"], env={**os.environ, **env}, check=True, capture_output=True)
    server = Server(env, workers=1)
    try:
        phone = "13700000001"
        code = httpx.post(server.url + "/api/v1/auth/otp", json={"phone": phone}).json()["debug_code"]
        token = httpx.post(server.url + "/api/v1/auth/login", json={"phone": phone, "code": code}).json()["access_token"]
        results = {
            "GET /api/v1/me": wrk(server.url + "/api/v1/me", token, args.seconds, args.connections),
            "PATCH /api/v1/me": wrk(server.url + "/api/v1/me", token, args.seconds, args.connections, PATCH_SCRIPT),
        }
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"SQLite demo, one API process, {args.connections} connections, {args.seconds} s each (wrk)")
    for name, r in results.items():
        print(f"  {name:18} {r['rps']:8.0f} req/s   mean {r['mean_ms']:7.1f} ms   p99 {r['p99_ms']:7.1f} ms   non-2xx {r['errors']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
