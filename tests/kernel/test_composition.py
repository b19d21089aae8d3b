"""The composition root: every domain declares its contributions in one place, the app mounts
exactly what they declare, ports are filled only through the root, and no module assigns
another module's globals."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
from fastapi.routing import APIRouter

from linli import domains, edge, vault
from linli.composition import Port, Wiring
from linli.config import Settings
from tests.routes import api_routes

SRC = Path(__file__).resolve().parents[2] / "src"


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _module_aliases(tree: ast.Module) -> set[str]:
    """Names a module binds to other modules (``import a.b as c``, ``from linli.x import y``
    where ``linli.x.y`` is a module)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name.split(".")[0]) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {(a.asname or a.name) for a in node.names if _is_module(f"{node.module}.{a.name}")}
    return names


def _assignments_to_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases = _module_aliases(tree)
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id in aliases:
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {t.value.id}.{t.attr} = ...")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Name) and first.id in aliases:
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: setattr({first.id}, ...)")
    return found


def test_no_module_assigns_another_modules_globals():
    found = [hit for path in sorted((SRC / "linli").rglob("*.py")) if "migrations" not in path.parts for hit in _assignments_to_modules(path)]
    assert found == []


def test_the_scan_finds_an_assignment_to_another_module(tmp_path):
    probe = SRC / "linli" / "_probe_composition.py"
    probe.write_text("from linli.orders import ports\nimport linli.money as money\n\nports.campaign = None\nmoney.X += 1\nsetattr(ports, 'queue', None)\n")
    try:
        assert [h.split(": ", 1)[1] for h in _assignments_to_modules(probe)] == ["ports.campaign = ...", "money.X = ...", "setattr(ports, ...)"]
    finally:
        probe.unlink()


def test_every_domain_declares_itself_and_every_router_it_has():
    """A router a domain defines but does not declare would never be mounted: none is left out."""
    loaded = {d.name: d for d in domains.load_all()}
    assert list(loaded)[: len(domains.DOMAINS)] == domains.DOMAINS
    for name in domains.DOMAINS:
        d = loaded[name]
        declared = {id(r) for r in d.routers("api") + d.routers("pages")}
        package = SRC / "linli" / name
        for path in package.rglob("*.py"):
            module = ".".join(path.relative_to(SRC).with_suffix("").parts)
            if "router = " not in path.read_text():
                continue
            mod = importlib.import_module(module)
            routers = [v for v in vars(mod).values() if isinstance(v, APIRouter)]
            for r in routers:
                if any(getattr(route.endpoint, "__module__", "") == module for route in r.routes):
                    assert id(r) in declared, f"{module} has a router that {name}/domain.py does not declare"


def test_the_app_mounts_what_the_domains_declare(client):
    mounted = {id(route) for _, route in api_routes(client.app)}
    declared = [(d.name, route) for d in domains.registered() for router in d.routers("api") + d.routers("pages") for route in router.routes]
    assert len(declared) > 100
    for name, route in declared:
        assert id(route) in mounted, f"{name}: {route.path} is not mounted"


def test_ports_are_filled_by_the_domains_that_provide_them():
    from linli.campaigns import ports as campaign_ports
    from linli.campaigns.checkout import CampaignPricing
    from linli.commission import payout as commission_payout
    from linli.commission import ports as commission_ports
    from linli.incentives import badges
    from linli.orders import ports
    from linli.payments.gateway import SandboxGateway, payment_gateway
    from linli.risk.screen import RiskScreen

    wiring = domains.bootstrap(Settings(env="test", plugins="tests.plugin"))
    assert wiring.filled == {
        "identity.homes": "community", "orders.campaign": "campaigns", "orders.queue": "campaigns", "payments.gateway": "payments", "referral.sharer_money": "commission",
        "orders.rewards": "rewards", "campaigns.early_access": "incentives", "edge.hash_key": "risk",
        "commission.screen": "risk", "vault.ring": "kernel", "payments.rails": "payments", "identity.wechat": "identity", "payments.payouts_in_flight": "commission",
        "commission.payout": "commission",
    }
    assert isinstance(ports.campaign.get(), CampaignPricing)
    assert campaign_ports.early_access.get() is badges.recommender_early_access  # 社区推荐官's first access to trials
    assert isinstance(payment_gateway.get(), SandboxGateway)
    assert commission_payout.gateway.get() is commission_payout.SANDBOX  # outside production, the sandbox wallet pays sharers of shops with no account
    assert edge.hash_key.get() == Settings(env="test").secret_key  # the keyed hash of captured signals
    assert isinstance(commission_ports.screen.get(), RiskScreen)  # a paid order is screened before commission credits anyone
    assert vault.open_sealed(vault.seal("apiv3")) == "apiv3"  # credentials can be sealed at rest


def test_a_port_has_one_provider():
    port: Port[str] = Port("test.thing", "default")
    w = Wiring(settings=None)
    w.fill(port, "a", by="one")
    w.fill(port, "b", by="one")  # the same domain wiring again (a second app in the process)
    with pytest.raises(RuntimeError, match="filled by one already"):
        w.fill(port, "c", by="two")
    assert port.get() == "b"
    with port.using("t"):
        assert port.get() == "t"
    assert port.get() == "b"


def test_a_plugin_can_be_a_domain(tmp_path):
    """A plugin module that defines DOMAIN joins the registry: its router is mounted and its
    wire runs, with no edit to the app factory."""
    from fastapi.testclient import TestClient

    from linli.web.app import create_app

    app = create_app(Settings(env="test", database_url=f"sqlite:///{tmp_path}/x.db", plugins="tests.plugin,tests.extra_domain"), dispatcher=False)
    assert "extra" in [d.name for d in domains.registered()]
    assert TestClient(app).get("/_extra/greeting").json() == {"greeting": "hello from test"}
