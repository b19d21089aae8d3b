"""Paid orders as money facts, for the rollups that analytics keeps: what was paid, when,
where it went, when it was received and each refund paid back with its moment. Read by
analytics' handlers (one order, on each of its events) and by its rebuild (every paid
order of a merchant, a page at a time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.orders.models import Order, RefundCase

PAGE = 2000


@dataclass(frozen=True)
class PaidOrder:
    order_id: int
    merchant_id: int
    member_id: int
    community_id: int | None
    campaign_id: int | None
    invite_code: str | None
    total_paid: int  # fen, every line's paid (stored value included)
    paid_at: datetime
    received_at: datetime | None
    refunds: tuple[tuple[datetime, int, bool], ...]  # (paid back at, fen, decided by the system) of each refunded case, oldest first


_COLUMNS = (Order.id, Order.merchant_id, Order.member_id, Order.community_id, Order.campaign_id, Order.invite_code, Order.total_paid, Order.paid_at, Order.received_at)


def _with_refunds(s: Session, rows) -> list[PaidOrder]:
    rows = list(rows)
    refunds: dict[int, list[tuple[datetime, int, bool]]] = {}
    if rows:
        q = (select(RefundCase.order_id, RefundCase.refunded_at, RefundCase.amount, RefundCase.by_system)
             .where(RefundCase.order_id.in_([r[0] for r in rows]), RefundCase.status == "refunded", RefundCase.refunded_at.is_not(None))
             .order_by(RefundCase.order_id, RefundCase.refunded_at, RefundCase.id))
        for oid, at, amount, by_system in s.execute(q):
            refunds.setdefault(oid, []).append((at, int(amount), bool(by_system)))
    return [PaidOrder(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7], r[8], tuple(refunds.get(r[0], ()))) for r in rows]


def paid_order(s: Session, order_id: int) -> PaidOrder | None:
    """The order as money facts now, or None while it is unpaid (or unknown)."""
    found = _with_refunds(s, s.execute(select(*_COLUMNS).where(Order.id == order_id, Order.paid_at.is_not(None))))
    return found[0] if found else None


def paid_orders_page(s: Session, merchant_id: int, after_id: int = 0, limit: int = PAGE) -> list[PaidOrder]:
    """The merchant's paid orders after ``after_id``, in id order, ``limit`` at most."""
    q = select(*_COLUMNS).where(Order.merchant_id == merchant_id, Order.paid_at.is_not(None), Order.id > after_id).order_by(Order.id).limit(limit)
    return _with_refunds(s, s.execute(q))


def count_paid_orders(s: Session, merchant_id: int) -> int:
    return int(s.scalar(select(func.count()).select_from(Order).where(Order.merchant_id == merchant_id, Order.paid_at.is_not(None))) or 0)
