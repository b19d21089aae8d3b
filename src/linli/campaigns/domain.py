"""What campaigns contributes to a process (read by the composition root, ``linli.domains``)."""

from __future__ import annotations

from linli.composition import Domain, Wiring


def wire(w: Wiring) -> None:
    """Checkout's campaign step and flash-sale queue; the flash gate on Redis when one is
    configured, else the database decides alone."""
    from linli.campaigns import flash_sale
    from linli.campaigns.checkout import CampaignPricing
    from linli.campaigns.flash_sale import queue as flash_queue
    from linli.orders import ports

    w.fill(ports.campaign, CampaignPricing(), by="campaigns")
    w.fill(ports.queue, flash_queue, by="campaigns")  # try_queue / ticket: a rush is queued when Redis is on
    flash_sale.configure(w.redis)


DOMAIN = Domain("campaigns", modules=("models", "handlers", "jobs"), api=("api:router", "group_buy.api:router", "live.api:router"), pages=("pages:router", "group_buy.pages:router", "live.pages:router"), wire=wire)
