"""What rewards contributes to a process (read by the composition root, ``linli.domains``)."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    """Checkout's rewards step: coupon, points and stored value."""
    from linli.orders import ports
    from linli.rewards.checkout import RewardsPricing

    w.fill(ports.rewards, RewardsPricing(), by="rewards")


DOMAIN = Domain("rewards", modules=("models", "accounts", "handlers", "jobs"), api=("api:router",), pages=("pages:router", "console_pages:router", "wallet_pages:router"), wire=wire)
