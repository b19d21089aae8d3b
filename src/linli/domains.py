"""Loads every domain's models, handlers and jobs (and configured plugins) once."""

from __future__ import annotations

import importlib

DOMAINS = ["identity", "community", "catalog", "orders", "payments", "referral", "commission", "campaigns"]
_PARTS = ["models", "handlers", "jobs"]
_loaded: set[str] = set()


def bootstrap(settings) -> None:
    """Everything a process needs before serving: domains, plugins, the payment gateway."""
    from linli.payments import service as payments
    from linli.payments.gateway import SandboxGateway

    load_all(settings.plugin_modules)
    if settings.sandbox_enabled:
        payments.configure(SandboxGateway(settings.payment_secret))
    from linli.campaigns import flash
    from linli.web.context import redis_client

    # The flash-sale gate runs on Redis when one is configured, else the database decides alone.
    flash.configure(redis_client(settings.redis_url))


def load_all(plugins: list[str] | None = None) -> None:
    import linli.channels.outbox  # noqa: F401  (the SMS outbox)
    import linli.events  # noqa: F401  (outbox tables)
    import linli.idempotency  # noqa: F401  (idempotency keys)
    import linli.ledger  # noqa: F401  (ledger tables; domains register their accounts)

    for domain in DOMAINS:
        for part in _PARTS:
            name = f"linli.{domain}.{part}"
            if name in _loaded:
                continue
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
            _loaded.add(name)
    for module in plugins or []:
        if module not in _loaded:
            importlib.import_module(module)
            _loaded.add(module)
