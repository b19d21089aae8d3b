"""The composition root: the one list of domains, loaded and wired once per process.

Every domain declares what it contributes in ``linli/<domain>/domain.py`` (a
``linli.composition.Domain``: its modules, API routers, page routers and a ``wire`` function
filling ports and gateways). ``bootstrap`` imports them in this order, runs each ``wire``
with the process's settings, and the app factory mounts the routers from ``registered()``.
A plugin (``LINLI_PLUGINS``) is a module imported after the domains; one that defines
``DOMAIN`` joins the registry like a built-in domain (its routers are mounted, its ``wire``
runs).
"""

from __future__ import annotations

import importlib

from linli import vault
from linli.composition import Domain, Wiring

DOMAINS = ["identity", "community", "catalog", "orders", "payments", "referral", "commission", "campaigns", "rewards", "incentives", "risk", "analytics"]
_KERNEL = ["linli.channels.outbox", "linli.events", "linli.idempotency", "linli.ledger"]  # their tables (and the SMS outbox)
_registry: dict[str, Domain] = {}
_imported: set[str] = set()


def _import(name: str):
    module = importlib.import_module(name)
    _imported.add(name)
    return module


def registered() -> list[Domain]:
    """The loaded domains, in load (and mount) order."""
    return list(_registry.values())


def load_all(plugins: list[str] | None = None) -> list[Domain]:
    """Import every domain's modules (tables, handlers, jobs) and the plugins; no wiring."""
    for name in _KERNEL:
        _import(name)
    for name in DOMAINS:
        if name not in _registry:
            _registry[name] = _import(f"linli.{name}.domain").DOMAIN
    for name in plugins or []:
        module = _import(name)
        extra = getattr(module, "DOMAIN", None)
        if extra is not None and extra.name not in _registry:
            _registry[extra.name] = extra
    for d in _registry.values():
        for module in d.module_names():
            if module not in _imported:
                _import(module)
    return registered()


def bootstrap(settings) -> Wiring:
    """Everything a process needs before serving or working: domains loaded, ports filled."""
    from linli.web.context import redis_client

    load_all(settings.plugin_modules)
    wiring = Wiring(settings, redis=redis_client(settings.redis_url))
    wiring.fill(vault.ring, vault.key_ring(settings.vault_keys, settings.secret_key), by="kernel")
    for d in _registry.values():
        if d.wire is not None:
            d.wire(wiring)
    return wiring
