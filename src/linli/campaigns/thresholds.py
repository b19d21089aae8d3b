"""Community thresholds (社区成团): live progress per community and, at close, the tier
difference paid back on every order of a community that reached a tier."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.campaigns import rules
from linli.campaigns.models import Campaign

# Orders that count towards a community's progress: paid and not cancelled.
COUNTED = ("paid", "grouping", "fulfilling", "ready_for_pickup", "delivering", "received", "completed")


def community_orders(s: Session, campaign_id: int, community_id: int | None) -> int:
    from linli.orders.models import Order

    if community_id is None:
        return 0
    return s.scalar(select(func.count()).select_from(Order).where(Order.campaign_id == campaign_id, Order.community_id == community_id, Order.status.in_(COUNTED))) or 0


def progress(s: Session, c: Campaign, community_id: int | None) -> dict:
    """"本小区已有25位邻居下单": the community's paid orders, the tier reached, the next."""
    tiers = [tuple(t) for t in c.tiers or []]
    n = community_orders(s, c.id, community_id)
    reached = rules.tier_for(tiers, n)
    ahead = rules.next_tier(tiers, n)
    return {
        "community_id": community_id,
        "orders": n,
        "tier": list(reached) if reached else None,
        "next_tier": list(ahead) if ahead else None,
        "orders_to_next": (ahead[0] - n) if ahead else 0,
        "tiers": [list(t) for t in tiers],
    }
