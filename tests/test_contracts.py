"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and they are real:
a forbidden import added to a copy of the tree breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"


def lint(root: Path, src: Path) -> subprocess.CompletedProcess:
    """Run the contracts of ``root``/pyproject.toml against the ``linli`` package in ``src``."""
    return subprocess.run([sys.executable, "-c", LINT], cwd=root, env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
                          capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold():
    r = lint(ROOT, ROOT / "src")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "BROKEN" not in r.stdout and "KEPT" in r.stdout


def test_a_forbidden_import_breaks_the_contracts(tmp_path):
    shutil.copytree(ROOT / "src" / "linli", tmp_path / "src" / "linli", ignore=shutil.ignore_patterns("__pycache__", "static", "locale"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "src" / "linli" / "orders" / "probe.py").write_text("from linli.commission import service  # noqa: F401\n")
    (tmp_path / "src" / "linli" / "money.py").open("a").write("\nfrom linli.orders import rules as _orders_rules  # noqa: E402,F401\n")
    # One campaign kind reaching into another's package.
    (tmp_path / "src" / "linli" / "campaigns" / "group_buy" / "probe.py").write_text("from linli.campaigns.flash_sale import gate  # noqa: F401\n")
    (tmp_path / "src" / "linli" / "orders" / "events.py").open("a").write("\nfrom linli.orders import models as _models  # noqa: E402,F401\n")
    (tmp_path / "src" / "linli" / "payments" / "events.py").open("a").write("\nimport sqlalchemy as _sa  # noqa: E402,F401\n")
    r = lint(tmp_path, tmp_path / "src")
    assert r.returncode == 1, r.stdout + r.stderr
    out = " ".join(r.stdout.split())
    assert "orders never imports commission BROKEN" in out, r.stdout
    assert "The kernel imports no domain (nor the web layer) BROKEN" in out, r.stdout
    assert "linli.orders.probe -> linli.commission.service" in out, r.stdout
    assert "campaigns' kinds are independent of each other, above the shared service BROKEN" in out, r.stdout
    assert "linli.campaigns.group_buy.probe -> linli.campaigns.flash_sale.gate" in out, r.stdout
    assert "Event modules are pure: no domain's models, services, handlers, pages or jobs, no web, no network BROKEN" in out, r.stdout
    assert "Event modules touch no database themselves BROKEN" in out, r.stdout
    assert "linli.orders.events -> linli.orders.models" in out, r.stdout


def test_every_domain_is_in_the_contracts_that_list_domains():
    """A new domain added to ``domains.DOMAINS`` but not to the hand-listed contracts would be
    unchecked without a word: the kernel's forbidden list, the models contracts, the pure
    rules and the page shell's list must name every domain."""
    import importlib.util
    import tomllib

    from linli import domains

    contracts = {c["name"]: c for c in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]}
    kernel = set(contracts["The kernel imports no domain (nor the web layer)"]["forbidden_modules"])
    rules = set(contracts["Rules are pure: no database, no web, no network, no outbox"]["source_modules"])
    shell = set(contracts["The shared page shell imports no domain's pages"]["forbidden_modules"])
    with_models = [d for d in domains.DOMAINS if importlib.util.find_spec(f"linli.{d}.models")]
    declared = {d.name: d for d in domains.load_all()}
    missing = []
    for d in domains.DOMAINS:
        if f"linli.{d}" not in kernel:
            missing.append(f"kernel contract: linli.{d}")
        if importlib.util.find_spec(f"linli.{d}.rules") and f"linli.{d}.rules" not in rules:
            missing.append(f"pure rules contract: linli.{d}.rules")
        c = contracts.get(f"{d} reads no other domain's models")
        want = {f"linli.{o}.models" for o in with_models if o != d}
        if c is None or not want <= set(c["forbidden_modules"]):
            missing.append(f"{d} reads no other domain's models: {sorted(want - set(c['forbidden_modules'])) if c else 'no such contract'}")
        for ref in declared[d].pages:
            module = f"{declared[d].root}.{ref.partition(':')[0]}"
            if module not in shell:
                missing.append(f"page shell contract: {module}")
    assert missing == []
