"""Try the newest releases of every dependency, ignoring the lock, and report what breaks.

Not part of CI's pass/fail: the lock (``requirements/lock.txt``) is what CI and the README
install, so an upgrade is a choice made by running this, reading its report, and then
moving the lock (``scripts/lock --upgrade``) together with any fixes.

    python scripts/newest_releases.py             # the whole suite in a scratch venv
    python scripts/newest_releases.py tests/kernel  # or only some tests (pytest arguments)

It makes a scratch virtual environment, installs the project with its test extra and no
constraints (so pip takes the newest release of everything pyproject.toml allows), lists
each package whose newest release differs from the lock, runs pytest there with the
caller's LINLI_TEST_* variables, and prints the tests that failed. Exit status: 0 when the
newest releases pass, 1 when some test fails, 2 when they cannot even be installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        m = PIN.match(line.strip())
        if m:
            found[_normal(m.group(1))] = m.group(2)
    return found


def main(pytest_args: list[str]) -> int:
    locked = pins(LOCK.read_text().splitlines())
    with tempfile.TemporaryDirectory(prefix="linli-newest-") as tmp:
        env_dir = Path(tmp) / "venv"
        venv.create(env_dir, with_pip=True)
        py = str(env_dir / "bin" / "python")
        print("==> installing the newest releases (no lock)", flush=True)
        install = subprocess.run([py, "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"], capture_output=True, text=True)
        if install.returncode != 0:
            print(install.stdout + install.stderr)
            print("!!! the newest releases cannot be installed together")
            return 2
        freeze = subprocess.run([py, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True, check=True)
        newest = pins(freeze.stdout.splitlines())
        moved = sorted(n for n in newest if n in locked and newest[n] != locked[n])
        added = sorted(n for n in newest if n not in locked and n not in ("pip", "setuptools", "wheel"))
        print(f"\n==> {len(moved)} packages have a newer release than the lock")
        for n in moved:
            print(f"  {n:28} {locked[n]:>14} -> {newest[n]}")
        for n in added:
            print(f"  {n:28} {'(not locked)':>14} -> {newest[n]}")
        print("\n==> running the tests on the newest releases", flush=True)
        run = subprocess.run([py, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args], cwd=ROOT, capture_output=True, text=True)
        lines = (run.stdout + run.stderr).splitlines()
        failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        summary = [line for line in lines if re.search(r"\d+ (passed|failed|error)", line)]
        print("\n".join(summary[-1:]) or "(pytest printed no summary)")
        if failed or run.returncode != 0:
            print("\n==> what breaks on the newest releases:")
            print("\n".join(failed) or "\n".join(lines[-40:]))
            return 1
        print("\n==> the newest releases pass: `scripts/lock --upgrade` moves the lock to them")
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
