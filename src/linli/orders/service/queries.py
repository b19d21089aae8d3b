"""Reading orders: the buyer's own, a merchant's with filters, the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.errors import NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.orders.models import Order, OrderAudit, OrderLine, RefundCase
from linli.orders.service.common import lines_of, order_of_member
from linli.orders.service.fulfilment import point_actor
from linli.payments import service as payments


@dataclass
class OrderDetail:
    order: Order
    lines: list[OrderLine]
    timeline: list[OrderAudit]
    refund_cases: list[RefundCase]
    payment_id: int | None


def detail(s: Session, o: Order) -> OrderDetail:
    timeline = list(s.scalars(select(OrderAudit).where(OrderAudit.order_id == o.id).order_by(OrderAudit.id)))
    cases = list(s.scalars(select(RefundCase).where(RefundCase.order_id == o.id).order_by(RefundCase.id)))
    pays = payments.payments_of(s, o.id)
    return OrderDetail(o, lines_of(s, o.id), timeline, cases, pays[-1].id if pays else None)


def member_order(s: Session, member_id: int, order_id: int) -> OrderDetail:
    return detail(s, order_of_member(s, member_id, order_id))


@dataclass(frozen=True)
class Buyer:
    """Who placed an order and where it goes (risk's order signals)."""

    merchant_id: int
    member_id: int
    address: dict | None  # the delivery address as given (name, phone, text, lat, lng), None for pickup


def buyer_of(s: Session, order_id: int) -> Buyer | None:
    row = s.execute(select(Order.merchant_id, Order.member_id, Order.address).where(Order.id == order_id)).first()
    return Buyer(row[0], row[1], row[2]) if row else None


def member_orders(s: Session, member_id: int, status: str | None = None, limit: int = 50, before_id: int | None = None) -> list[Order]:
    stmt = select(Order).where(Order.member_id == member_id).order_by(Order.id.desc()).limit(min(max(limit, 1), 200))
    if status:
        stmt = stmt.where(Order.status == status)
    if before_id:
        stmt = stmt.where(Order.id < before_id)
    return list(s.scalars(stmt))


def lines_for(s: Session, order_ids: list[int]) -> dict[int, list[OrderLine]]:
    out: dict[int, list[OrderLine]] = {oid: [] for oid in order_ids}
    if order_ids:
        for ln in s.scalars(select(OrderLine).where(OrderLine.order_id.in_(order_ids)).order_by(OrderLine.id)):
            out[ln.order_id].append(ln)
    return out


@dataclass(frozen=True)
class OrderFilter:
    status: str | None = None
    community_id: int | None = None
    pickup_point_id: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    member_id: int | None = None
    limit: int = 100
    before_id: int | None = None


def merchant_orders(s: Session, who: Principal, merchant_id: int, f: OrderFilter) -> list[Order]:
    identity.require_permission(s, who, merchant_id, Permission.view)
    stmt = select(Order).where(Order.merchant_id == merchant_id).order_by(Order.id.desc()).limit(min(max(f.limit, 1), 500))
    for column, value in ((Order.status, f.status), (Order.community_id, f.community_id), (Order.pickup_point_id, f.pickup_point_id), (Order.member_id, f.member_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.created_from:
        stmt = stmt.where(Order.created_at >= f.created_from)
    if f.created_to:
        stmt = stmt.where(Order.created_at < f.created_to)
    if f.before_id:
        stmt = stmt.where(Order.id < f.before_id)
    return list(s.scalars(stmt))


def merchant_order(s: Session, who: Principal, merchant_id: int, order_id: int) -> OrderDetail:
    identity.require_permission(s, who, merchant_id, Permission.view)
    o = s.get(Order, order_id)
    if o is None or o.merchant_id != merchant_id:
        raise NotFound("order.not_found", "No such order.")
    return detail(s, o)


def point_orders(s: Session, who: Principal, point_id: int, statuses: tuple[str, ...]) -> list[Order]:
    """The orders waiting at a pickup point, for its leader's page."""
    point_actor(s, who, point_id)
    return list(s.scalars(select(Order).where(Order.pickup_point_id == point_id, Order.status.in_(statuses)).order_by(Order.id)))


def received_spend(s: Session, member_id: int, merchant_id: int) -> tuple[int, int]:
    """(orders received, fen paid and not refunded on them) of a member at a merchant —
    what sharer eligibility rules look at."""
    row = s.execute(
        select(func.count(), func.coalesce(func.sum(Order.total_paid - Order.refunded), 0)).where(
            Order.member_id == member_id, Order.merchant_id == merchant_id, Order.status.in_(("received", "completed"))
        )
    ).one()
    return int(row[0]), int(row[1])


def has_paid_order(s: Session, member_id: int, merchant_id: int) -> bool:
    """Whether the member has ever paid an order at this merchant (a new member has not)."""
    return s.scalars(select(Order.id).where(Order.member_id == member_id, Order.merchant_id == merchant_id, Order.paid_at.is_not(None)).limit(1)).first() is not None


def line_amounts(s: Session, line_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(paid, refunded) of order lines, for commission's month-close bonus."""
    if not line_ids:
        return {}
    return {i: (p, r) for i, p, r in s.execute(select(OrderLine.id, OrderLine.paid, OrderLine.refunded).where(OrderLine.id.in_(set(line_ids))))}


def first_received_order(s: Session, member_id: int, merchant_id: int) -> int | None:
    """The member's first received order at this merchant (earliest receipt, then lowest id),
    whatever happened to it since — what a referral programme's reward waits for."""
    q = select(Order.id).where(Order.member_id == member_id, Order.merchant_id == merchant_id, Order.received_at.is_not(None)).order_by(Order.received_at, Order.id).limit(1)
    return s.scalars(q).first()


@dataclass(frozen=True)
class Completion:
    completed_at: datetime
    net_paid: int  # fen: the lines' paid less the refunds paid back before completion


def completions(s: Session, order_ids: list[int]) -> dict[int, Completion]:
    """The completed orders among ``order_ids``: when their after-sales window closed and
    what they had paid net of refunds at that moment (what ``order.completed`` carried; a
    refund of a completed order, later, is not counted) — what referral rewards are judged on."""
    if not order_ids:
        return {}
    ids = set(order_ids)
    done = dict(s.execute(select(Order.id, Order.completed_at).where(Order.id.in_(ids), Order.completed_at.is_not(None))).all())
    if not done:
        return {}
    paid = dict(s.execute(select(OrderLine.order_id, func.sum(OrderLine.paid)).where(OrderLine.order_id.in_(done)).group_by(OrderLine.order_id)).all())
    before = (select(RefundCase.order_id, func.sum(RefundCase.amount)).join(Order, Order.id == RefundCase.order_id)
              .where(RefundCase.order_id.in_(done), RefundCase.status == "refunded", RefundCase.refunded_at < Order.completed_at).group_by(RefundCase.order_id))
    refunded = dict(s.execute(before).all())
    return {oid: Completion(at, int(paid.get(oid) or 0) - int(refunded.get(oid) or 0)) for oid, at in done.items()}

