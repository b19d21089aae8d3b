"""Community thresholds (社区成团): live progress per community and, at close, the tier
difference paid back on every order of a community that reached a tier (``settlement``).

An order belongs to ``orders.community_id`` (its pickup point's community, or the nearest
community for a delivery). It counts once paid and not cancelled — and, after the close,
also when it was settled at close (its ``ThresholdRebate`` row), so the tally stays what
the close decided even when a missed community's orders were cancelled by the ``cancel``
policy or an order is refunded afterwards. ``progress`` (the member's view) and the close
(``settlement``) count the same way (``tally``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.campaigns import rules
from linli.campaigns.models import Campaign, ThresholdRebate
from linli.campaigns.service import COUNTED  # orders that count towards a community's progress
from linli.orders import service as orders


def _settled_uncounted(s: Session, campaign_id: int, community_id: int | None = None) -> dict[int | None, int]:
    """Orders settled at close (a ``ThresholdRebate`` row) that are no longer paid and not
    cancelled (cancelled by the miss policy, or refunded since), per community: they still
    count. The markers are read a page at a time and their orders looked up by id."""
    out: dict[int | None, int] = {}
    after = None
    while True:
        q = select(ThresholdRebate.order_id).where(ThresholdRebate.campaign_id == campaign_id)
        if community_id is not None:
            q = q.where(ThresholdRebate.community_id == community_id)
        if after is not None:
            q = q.where(ThresholdRebate.order_id > after)
        ids = list(s.scalars(q.order_by(ThresholdRebate.order_id).limit(orders.CHUNK)))
        refs = orders.order_refs(s, ids)
        for ref in refs.values():
            if ref.campaign_id == campaign_id and ref.status not in COUNTED and (community_id is None or ref.community_id == community_id):
                out[ref.community_id] = out.get(ref.community_id, 0) + 1
        if len(ids) < orders.CHUNK:
            return out
        after = ids[-1]


def _merged(a: dict[int | None, int], b: dict[int | None, int]) -> dict[int | None, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}


def community_orders(s: Session, campaign_id: int, community_id: int | None) -> int:
    if community_id is None:
        return 0
    return _merged(orders.orders_by_community(s, campaign_id, COUNTED, community_id=community_id), _settled_uncounted(s, campaign_id, community_id)).get(community_id, 0)


def tally(s: Session, campaign_id: int) -> dict[int | None, int]:
    """Counted orders per community (None: orders with no community, which never reach a tier)."""
    return _merged(orders.orders_by_community(s, campaign_id, COUNTED), _settled_uncounted(s, campaign_id))


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
