"""Closing campaigns at their end (a pre-sale's cut-off, a threshold's close).

The due job ``campaigns.close`` picks active campaigns whose ``ends_at`` has passed. New
orders are already refused from ``ends_at`` on (``require_open``: ``campaign.ended``, or
``campaign.cutoff_passed`` for a pre-sale); the job records the end and settles:

- live sessions, flash sales and group-buy campaigns: ``active → closed`` by compare-and-set
  and a ``campaign.closed`` event with the count of paid orders (teams end on their own
  deadlines, ``teams``).
- community thresholds and pre-sales: ``active → closing → closed``. Orders placed before
  the end but not yet paid keep their normal payment window (15 minutes) — a neighbour who
  ordered at 21:59 may still pay at 22:05 and counts once paid. The campaign stays
  ``closing`` until no order of it awaits payment (paid, or expired by
  ``orders.expire_unpaid``, which runs first), so the tally and the purchase list are final
  when it settles; money arriving after an order expired goes back by the orders' late-
  payment rule. Then:
  - threshold: the counted orders per community (``thresholds.tally``) decide each
    community's outcome (``thresholds.outcome``). Each order settles in its own transaction:
    the ``ThresholdRebate`` row (primary key = order) is inserted first and only by one
    runner, then, in that same transaction, the tier amount per order is refunded
    (``system_refund``, capped by what is still refundable) — or everything for a missed
    minimum under ``cancel`` (the order is cancelled), or nothing under ``proceed`` — and the
    order leaves ``grouping`` for fulfilment (``release_hold``). A re-run or a run after a
    crash finds the marker and refunds nothing twice. Commission follows the refunds
    (``order.refunded`` → floor rule).
  - pre-sale: the event carries the purchase list for the warehouse, units per SKU of the
    paid orders, and the promised date.
  ``closing → closed`` is a compare-and-set: exactly one run emits ``campaign.closed``.
- A payment that still lands in ``grouping`` after a threshold closed (an order racing the
  close) is settled by the next run with the same tally; no second event is emitted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from linli.campaigns import rules
from linli.campaigns.models import Campaign, ThresholdRebate
from linli.campaigns.threshold import service as thresholds
from linli.db import Database, insert_ignore
from linli.events import emit
from linli.jobs import job
from linli.orders import service as orders
from linli.orders.rules import Status

SETTLED_AT_THE_END = (rules.Kind.threshold.value, rules.Kind.presale.value)


@job("campaigns.close", order=15)
def close_due(db: Database, as_of: datetime) -> int:
    """Close campaigns past their end and settle thresholds and pre-sales; returns the
    campaigns closed plus the threshold orders settled."""
    with db.transaction() as s:
        due = list(s.scalars(select(Campaign.id).where(Campaign.status == "active", Campaign.ends_at <= as_of).order_by(Campaign.ends_at, Campaign.id)))
    done = 0
    for campaign_id in due:
        with db.transaction() as s:
            done += 1 if stop_orders(s, campaign_id, as_of) else 0
    with db.transaction() as s:
        settling = list(s.scalars(select(Campaign.id).where(Campaign.status == "closing").order_by(Campaign.ends_at, Campaign.id)))
        settling += stragglers(s)
    for campaign_id in settling:
        done += settle(db, campaign_id, as_of)
    return done


def stop_orders(s: Session, campaign_id: int, as_of: datetime) -> bool:
    """``active → closing`` (threshold, pre-sale) or ``active → closed`` (the others, with
    their event) by compare-and-set. False when another run got there first."""
    c = s.get(Campaign, campaign_id)
    if c is None or c.status != "active" or c.ends_at > as_of:
        return False
    target = "closing" if c.kind in SETTLED_AT_THE_END else "closed"
    values = {"status": target} if target == "closing" else {"status": target, "closed_at": as_of}
    if s.execute(update(Campaign).where(Campaign.id == c.id, Campaign.status == "active").values(**values)).rowcount != 1:
        return False
    if target == "closed":
        s.refresh(c)
        emit(s, "campaign.closed", _summary(s, c), merchant_id=c.merchant_id, at=as_of)
    return True


def stragglers(s: Session) -> list[int]:
    """Closed thresholds with an order still in ``grouping`` (paid while the close ran)."""
    ids = orders.campaigns_with_orders_in(s, Status.grouping)
    out: list[int] = []
    for i in range(0, len(ids), orders.CHUNK):
        out += s.scalars(select(Campaign.id).where(
            Campaign.id.in_(ids[i:i + orders.CHUNK]), Campaign.kind == rules.Kind.threshold.value, Campaign.status == "closed").order_by(Campaign.id))
    return out


def awaiting_payment(s: Session, campaign_id: int) -> int:
    return orders.count_campaign_orders(s, campaign_id, (Status.pending_payment,))


def _unsettled_orders(s: Session, campaign_id: int) -> list[tuple[int, int | None]]:
    """(order id, community id) of the campaign's counted orders with no ``ThresholdRebate``
    row yet, by order id: the orders read a page at a time, their markers per page."""
    out: list[tuple[int, int | None]] = []
    after = 0
    while True:
        page = orders.order_refs_page(s, thresholds.COUNTED, campaign_id=campaign_id, after_id=after)
        if not page:
            return out
        marked = set(s.scalars(select(ThresholdRebate.order_id).where(ThresholdRebate.order_id.in_([r.order_id for r in page]))))
        out += [(r.order_id, r.community_id) for r in page if r.order_id not in marked]
        if len(page) < orders.CHUNK:
            return out
        after = page[-1].order_id


def settle(db: Database, campaign_id: int, as_of: datetime) -> int:
    """Settle a closing (or straggling closed) campaign once no order awaits payment."""
    with db.transaction() as s:
        c = s.get(Campaign, campaign_id)
        if c is None or c.status not in ("closing", "closed") or awaiting_payment(s, c.id):
            return 0
        kind = c.kind
        counts = thresholds.tally(s, c.id) if kind == rules.Kind.threshold else {}
        todo = []
        if kind == rules.Kind.threshold:
            todo = _unsettled_orders(s, c.id)
    done = 0
    for order_id, community_id in todo:
        with db.transaction() as s:
            done += 1 if settle_order(s, campaign_id, order_id, community_id, counts.get(community_id, 0), as_of) else 0
    with db.transaction() as s:
        if kind == rules.Kind.threshold and unsettled(s, campaign_id):
            return done  # an order waits for a refund decision: stay closing, retry next run
        if s.execute(update(Campaign).where(Campaign.id == campaign_id, Campaign.status == "closing").values(status="closed", closed_at=as_of)).rowcount == 1:
            c = s.get(Campaign, campaign_id)
            s.refresh(c)
            emit(s, "campaign.closed", _summary(s, c), merchant_id=c.merchant_id, at=as_of)
            done += 1
    return done


def unsettled(s: Session, campaign_id: int) -> int:
    return len(_unsettled_orders(s, campaign_id))


def settle_order(s: Session, campaign_id: int, order_id: int, community_id: int | None, counted: int, now: datetime) -> bool:
    """One threshold order at close: marker first (the idempotency guard), then the refund
    the community's outcome asks for, then on to fulfilment. False if settled already or
    no longer counted (cancelled meanwhile)."""
    c = s.get(Campaign, campaign_id)
    o = orders.order_refs(s, [order_id]).get(order_id)
    if o is None or o.campaign_id != campaign_id or o.status not in thresholds.COUNTED:
        return False
    result = thresholds.outcome([tuple(t) for t in c.tiers or []], c.miss_policy, counted, community_id is not None)
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


def _summary(s: Session, c: Campaign) -> dict:
    paid = sum(thresholds.tally(s, c.id).values())
    out = {"campaign_id": c.id, "kind": c.kind, "title": c.title, "closed_at": c.closed_at.isoformat() if c.closed_at else None, "orders": int(paid)}
    if c.kind == rules.Kind.threshold:
        out.update(_threshold_summary(s, c))
    elif c.kind == rules.Kind.presale:
        out.update(promised_date=c.promised_date.isoformat() if c.promised_date else None, promised_note=c.promised_note, units=purchase_list(s, c.id))
    return out


def _threshold_summary(s: Session, c: Campaign) -> dict:
    tiers = [tuple(t) for t in c.tiers or []]
    counts = thresholds.tally(s, c.id)
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
        res = thresholds.outcome(tiers, c.miss_policy, counts[cid], cid is not None)
        reached = rules.tier_for(tiers, counts[cid]) if cid is not None else None
        communities.append({"community_id": cid, "orders": counts[cid], "tier": list(reached) if reached else None, "outcome": res.kind, "refunded": refunded.get(cid, 0)})
    return {"communities": communities, "rebated": by_kind["rebate"], "cancelled": by_kind["cancelled"], "proceeded": by_kind["none"], "refunded": sum(refunded.values())}


def purchase_list(s: Session, campaign_id: int) -> list[dict]:
    """Units per SKU of a campaign's paid, not cancelled orders (the warehouse's list)."""
    return [
        {"sku_id": u.sku_id, "product_name": u.product_name, "sku_name": u.sku_name, "qty": u.qty, "orders": u.orders}
        for u in orders.units_by_sku(s, campaign_id, thresholds.COUNTED)
    ]
