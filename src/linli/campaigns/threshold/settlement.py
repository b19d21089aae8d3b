"""A threshold's close, order by order (``closing`` runs it once no order awaits payment).

The counted orders per community (``service.tally``) decide each community's outcome
(``rules.outcome``). Each order settles in its own transaction: the ``ThresholdRebate`` row
(primary key = order) is inserted first and only by one runner, then, in that same
transaction, the tier amount per order is refunded (``system_refund``, capped by what is
still refundable) — or everything for a missed minimum under ``cancel`` (the order is
cancelled), or nothing under ``proceed`` — and the order leaves ``grouping`` for fulfilment
(``release_hold``). A re-run or a run after a crash finds the marker and refunds nothing
twice. A payment that lands in ``grouping`` after the close (``stragglers``) is settled by
the next run with the same tally.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from linli.campaigns import rules
from linli.campaigns.models import Campaign, ThresholdRebate
from linli.campaigns.service import COUNTED
from linli.campaigns.threshold.rules import outcome
from linli.campaigns.threshold.service import tally
from linli.db import insert_ignore
from linli.orders import service as orders
from linli.orders.rules import Status


def stragglers(s: Session) -> list[int]:
    """Closed thresholds with an order still in ``grouping`` (paid while the close ran)."""
    ids = orders.campaigns_with_orders_in(s, Status.grouping)
    out: list[int] = []
    for i in range(0, len(ids), orders.CHUNK):
        out += s.scalars(select(Campaign.id).where(
            Campaign.id.in_(ids[i:i + orders.CHUNK]), Campaign.kind == rules.Kind.threshold.value, Campaign.status == "closed").order_by(Campaign.id))
    return out


def unsettled_orders(s: Session, campaign_id: int) -> list[tuple[int, int | None]]:
    """(order id, community id) of the campaign's counted orders with no ``ThresholdRebate``
    row yet, by order id: the orders read a page at a time, their markers per page."""
    out: list[tuple[int, int | None]] = []
    after = 0
    while True:
        page = orders.order_refs_page(s, COUNTED, campaign_id=campaign_id, after_id=after)
        if not page:
            return out
        marked = set(s.scalars(select(ThresholdRebate.order_id).where(ThresholdRebate.order_id.in_([r.order_id for r in page]))))
        out += [(r.order_id, r.community_id) for r in page if r.order_id not in marked]
        if len(page) < orders.CHUNK:
            return out
        after = page[-1].order_id


def unsettled(s: Session, campaign_id: int) -> int:
    return len(unsettled_orders(s, campaign_id))


def settle_order(s: Session, campaign_id: int, order_id: int, community_id: int | None, counted: int, now: datetime) -> bool:
    """One threshold order at close: marker first (the idempotency guard), then the refund
    the community's outcome asks for, then on to fulfilment. False if settled already or
    no longer counted (cancelled meanwhile)."""
    c = s.get(Campaign, campaign_id)
    o = orders.order_refs(s, [order_id]).get(order_id)
    if o is None or o.campaign_id != campaign_id or o.status not in COUNTED:
        return False
    result = outcome([tuple(t) for t in c.tiers or []], c.miss_policy, counted, community_id is not None)
    if result.kind == "rebate" and orders.open_requests(s, o.order_id):
        # The buyer asked for money back and staff have not decided: the rebate waits for
        # that decision (the next run retries), so it is neither lost nor paid on top.
        return False
    marker = {"order_id": o.order_id, "merchant_id": c.merchant_id, "campaign_id": campaign_id, "community_id": community_id, "kind": result.kind, "amount": 0, "at": now}
    if s.execute(insert_ignore(s, ThresholdRebate, marker, ["order_id"]).returning(ThresholdRebate.order_id)).first() is None:
        return False  # another run settled it
    amount = 0
    if result.kind != "none":
        reason = "threshold_rebate" if result.kind == "rebate" else "threshold_missed"
        # A rebate keeps the order going even when it covers the whole price.
        case = orders.system_refund(s, o.order_id, result.off, reason, now, keep_order=result.kind == "rebate")
        amount = case.amount if case is not None else 0
        s.execute(update(ThresholdRebate).where(ThresholdRebate.order_id == o.order_id).values(amount=amount))
    orders.release_hold(s, o.order_id, now, reason=f"threshold_{result.kind}")
    return True


def threshold_summary(s: Session, c: Campaign) -> dict:
    tiers = [tuple(t) for t in c.tiers or []]
    counts = tally(s, c.id)
    rows = s.execute(
        select(ThresholdRebate.community_id, ThresholdRebate.kind, func.count(), func.coalesce(func.sum(ThresholdRebate.amount), 0))
        .where(ThresholdRebate.campaign_id == c.id).group_by(ThresholdRebate.community_id, ThresholdRebate.kind)
    ).all()
    by_kind = {"rebate": 0, "cancelled": 0, "none": 0}
    refunded: dict[int | None, int] = {}
    for cid, kind, n, amount in rows:
        by_kind[kind] = by_kind.get(kind, 0) + int(n)
        refunded[cid] = refunded.get(cid, 0) + int(amount)
    communities = []
    for cid in sorted(counts, key=lambda k: (k is None, k or 0)):
        res = outcome(tiers, c.miss_policy, counts[cid], cid is not None)
        reached = rules.tier_for(tiers, counts[cid]) if cid is not None else None
        communities.append({"community_id": cid, "orders": counts[cid], "tier": tuple(reached) if reached else None, "outcome": res.kind, "refunded": refunded.get(cid, 0)})
    return {"communities": tuple(communities), "rebated": by_kind["rebate"], "cancelled": by_kind["cancelled"], "proceeded": by_kind["none"], "refunded": sum(refunded.values())}
