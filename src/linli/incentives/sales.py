"""Referred sales: the facts leaderboards and badges count as "referred GMV" (RULES.md
"Growth incentives": received, not refunded).

An order is a referred sale of the member who brought it — level 1 of its attribution chain
(the code the buyer came with, else the buyer's binding; never the buyer: a sharer's own
purchase is not a referral) — from the moment it is received. Its ``net`` is what its lines
have paid less what is refunded *now*, read from orders each time an event of the order is
handled, so a replay, a redelivery or events handled out of order all land on the same
figure; the caller applies the difference (``SaleChange``). A refund handled before the
receipt leaves nothing to change: the receipt reads the net after it.

The handlers of one buyer take turns (``turns.take_turn``), so the receipt and a refund
of the same order never both read a stale net."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.db import insert_ignore
from linli.incentives.models import ReferredSale
from linli.orders import service as orders
from linli.orders.events import OrderFacts
from linli.referral import service as referral


@dataclass(frozen=True)
class SaleChange:
    """A referred sale whose net moved from ``before`` to ``after`` (fen; 0 before the receipt)."""

    sale: ReferredSale
    before: int
    after: int

    @property
    def delta(self) -> int:
        return self.after - self.before


def _net_now(s: Session, p: OrderFacts) -> int:
    now = orders.line_amounts(s, [ln.line_id for ln in p.lines])
    return max(0, sum(paid - refunded for paid, refunded in (now.get(ln.line_id, (ln.paid, ln.refunded)) for ln in p.lines)))


def on_received(s: Session, p: OrderFacts, received_at: datetime) -> SaleChange | None:
    """Record the order as its referrer's sale (once: the order is the key)."""
    chain = referral.attribution_chain(s, p.merchant_id, p.member_id, p.invite_code, levels=1, self_purchase=False)
    if not chain or chain[0].member_id == p.member_id:
        return None
    row = {"order_id": p.order_id, "merchant_id": p.merchant_id, "sharer_id": chain[0].member_id, "buyer_id": p.member_id, "community_id": p.community_id,
           "received_at": received_at, "paid": p.total_paid, "net": 0}
    s.execute(insert_ignore(s, ReferredSale, row, ["order_id"]))
    return _refresh(s, p)


def on_refunded(s: Session, p: OrderFacts) -> SaleChange | None:
    """A refund of a received referred sale: its net now (nothing before the receipt)."""
    return _refresh(s, p)


def _refresh(s: Session, p: OrderFacts) -> SaleChange | None:
    sale = s.scalars(select(ReferredSale).where(ReferredSale.order_id == p.order_id).with_for_update()).first()
    if sale is None:
        return None
    before, after = sale.net, _net_now(s, p)
    if before == after:
        return None
    sale.net = after
    s.flush()
    return SaleChange(sale, before, after)

