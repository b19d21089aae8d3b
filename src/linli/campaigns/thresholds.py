"""Community thresholds (社区成团): live progress per community and, at close, the tier
difference paid back on every order of a community that reached a tier.

An order belongs to ``orders.community_id`` (its pickup point's community, or the nearest
community for a delivery). It counts once paid and not cancelled — and, after the close,
also when it was settled at close (its ``ThresholdRebate`` row), so the tally stays what
the close decided even when a missed community's orders were cancelled by the ``cancel``
policy or an order is refunded afterwards. ``progress`` (the member's view) and the close
(``closing``) count through the same ``counted`` condition.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from linli.campaigns import rules
from linli.campaigns.models import Campaign, ThresholdRebate
from linli.orders.rules import REFUNDABLE

# Orders that count towards a community's progress: paid and not cancelled.
COUNTED = tuple(sorted(REFUNDABLE))


def counted():
    """SQL condition on ``Order``: the order counts towards its community's tally."""
    from linli.orders.models import Order

    return or_(Order.status.in_(COUNTED), exists().where(ThresholdRebate.order_id == Order.id))


def community_orders(s: Session, campaign_id: int, community_id: int | None) -> int:
    from linli.orders.models import Order

    if community_id is None:
        return 0
    return s.scalar(select(func.count()).select_from(Order).where(Order.campaign_id == campaign_id, Order.community_id == community_id, counted())) or 0


def tally(s: Session, campaign_id: int) -> dict[int | None, int]:
    """Counted orders per community (None: orders with no community, which never reach a tier)."""
    from linli.orders.models import Order

    rows = s.execute(select(Order.community_id, func.count()).where(Order.campaign_id == campaign_id, counted()).group_by(Order.community_id)).all()
    return {cid: int(n) for cid, n in rows}


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


@dataclass(frozen=True)
class Outcome:
    kind: str  # rebate | cancelled | none
    off: int | None  # fen back per order; None = everything still refundable


def outcome(tiers: list[tuple[int, int]], miss_policy: str | None, orders: int, has_community: bool = True) -> Outcome:
    """What the close does to each order of a community with ``orders`` counted orders
    (pure): the reached tier's amount back, or the miss policy (``cancel`` refunds all,
    ``proceed`` keeps the base price)."""
    reached = rules.tier_for(tiers, orders) if has_community else None
    if reached is not None:
        return Outcome("rebate", reached[1])
    if miss_policy == "cancel":
        return Outcome("cancelled", None)
    return Outcome("none", 0)
