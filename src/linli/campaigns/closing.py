"""Closing campaigns at their end (a pre-sale's cut-off, a threshold's close).

The due job ``campaigns.close`` picks active campaigns whose ``ends_at`` has passed. New
orders are already refused from ``ends_at`` on (``require_open``: ``campaign.ended``, or
``campaign.cutoff_passed`` for a pre-sale); the job records the end and settles:

- live sessions, flash sales and group-buy campaigns: ``active → closed`` by compare-and-set
  and a ``campaign.closed`` event with the count of paid orders (teams end on their own
  deadlines, ``group_buy.service``).
- community thresholds and pre-sales: ``active → closing → closed``. Orders placed before
  the end but not yet paid keep their normal payment window (15 minutes) — a neighbour who
  ordered at 21:59 may still pay at 22:05 and counts once paid. The campaign stays
  ``closing`` until no order of it awaits payment (paid, or expired by
  ``orders.expire_unpaid``, which runs first), so the tally and the purchase list are final
  when it settles; money arriving after an order expired goes back by the orders' late-
  payment rule. Then:
  - threshold: the counted orders per community decide each community's outcome, and each
    order is settled in its own transaction, at most once (``threshold.settlement``): the
    tier amount back, everything back under ``cancel``, or nothing under ``proceed``, and
    on to fulfilment. Commission follows the refunds (``order.refunded`` → floor rule).
  - pre-sale: the event carries the purchase list for the warehouse, units per SKU of the
    paid orders, and the promised date.
  ``closing → closed`` is a compare-and-set: exactly one run emits ``campaign.closed``.
- A payment that still lands in ``grouping`` after a threshold closed (an order racing the
  close, ``threshold.settlement.stragglers``) is settled by the next run with the same
  tally; no second event is emitted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli.campaigns import rules, service
from linli.campaigns.events import CampaignClosed
from linli.campaigns.models import Campaign
from linli.campaigns.threshold import service as thresholds
from linli.campaigns.threshold.settlement import settle_order, stragglers, threshold_summary, unsettled, unsettled_orders
from linli.db import Database
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
        emit(s, _summary(s, c), merchant_id=c.merchant_id, at=as_of)
    return True


def awaiting_payment(s: Session, campaign_id: int) -> int:
    return orders.count_campaign_orders(s, campaign_id, (Status.pending_payment,))


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
            todo = unsettled_orders(s, c.id)
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
            emit(s, _summary(s, c), merchant_id=c.merchant_id, at=as_of)
            done += 1
    return done


def _summary(s: Session, c: Campaign) -> CampaignClosed:
    paid = sum(thresholds.tally(s, c.id).values())
    out = {"campaign_id": c.id, "kind": c.kind, "title": c.title, "closed_at": c.closed_at, "orders": int(paid)}
    if c.kind == rules.Kind.threshold:
        out.update(threshold_summary(s, c))
    elif c.kind == rules.Kind.presale:
        out.update(promised_date=c.promised_date, promised_note=c.promised_note, units=tuple(purchase_list(s, c.id)))
    return CampaignClosed(**out)


def purchase_list(s: Session, campaign_id: int) -> list[dict]:
    """Units per SKU of a campaign's paid, not cancelled orders (the warehouse's list)."""
    return [
        {"sku_id": u.sku_id, "product_name": u.product_name, "sku_name": u.sku_name, "qty": u.qty, "orders": u.orders}
        for u in orders.units_by_sku(s, campaign_id, service.COUNTED)
    ]
