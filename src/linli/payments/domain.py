"""What payments contributes to a process (read by the composition root, ``linli.domains``)."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    """The sandbox gateway where the settings allow it (never in production)."""
    from linli.payments.gateway import SandboxGateway, payment_gateway

    if w.settings.sandbox_enabled:
        w.fill(payment_gateway, SandboxGateway(w.settings.payment_secret), by="payments")


DOMAIN = Domain("payments", modules=("models", "handlers"), api=("api:router",), pages=("pages:router",), wire=wire)
