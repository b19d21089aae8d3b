"""What the order use cases share: loading with ownership checks, moving state with an
audit row, settings, and the event payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli import events
from linli.errors import Conflict, NotFound
from linli.orders import rules
from linli.orders.events import LineFacts, OrderFacts
from linli.orders.models import Order, OrderAudit, OrderLine, OrderSettings


def settings_for(s: Session, merchant_id: int) -> OrderSettings:
    st = s.get(OrderSettings, merchant_id)
    if st is None:
        st = OrderSettings(merchant_id=merchant_id, **rules.SETTINGS.defaults())
    return st


def order_of_member(s: Session, member_id: int, order_id: int) -> Order:
    o = s.get(Order, order_id)
    if o is None or o.member_id != member_id:
        raise NotFound("order.not_found", "No such order.")
    return o


def lines_of(s: Session, order_id: int) -> list[OrderLine]:
    return list(s.scalars(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)))


def audit(s: Session, o: Order, action: str, *, actor: int | None, kind: str, src: str | None = None, dst: str | None = None, detail: dict[str, Any] | None = None, now: datetime) -> None:
    s.add(OrderAudit(order_id=o.id, merchant_id=o.merchant_id, actor_member_id=actor, actor_kind=kind, action=action, from_status=src, to_status=dst, detail=detail, at=now))


def move(s: Session, o: Order, dst: str, *, action: str, actor: int | None, kind: str, now: datetime, detail: dict[str, Any] | None = None, **values: Any) -> bool:
    """Compare-and-set the status from what we read to ``dst``; False if someone else moved
    it first (the caller decides whether that is an error)."""
    src = o.status
    rules.require_move(src, dst)
    res = s.execute(update(Order).where(Order.id == o.id, Order.status == src).values(status=dst, **values))
    if res.rowcount != 1:
        s.refresh(o)
        return False
    s.refresh(o)
    audit(s, o, action, actor=actor, kind=kind, src=src, dst=dst, detail=detail, now=now)
    return True


def move_or_conflict(s: Session, o: Order, dst: str, **kw: Any) -> None:
    if not move(s, o, dst, **kw):
        raise Conflict("order.changed", "The order changed meanwhile; reload it.", status_now=o.status)


def emit(s: Session, event: type[OrderFacts], o: Order, now: datetime, **extra: Any) -> None:
    """Emit ``event`` (an ``orders.events`` type) with the order's facts as they are now
    and what the step adds (``extra``: the event's own fields)."""
    lines = tuple(
        LineFacts(line_id=ln.id, sku_id=ln.sku_id, product_id=ln.product_id, category=ln.category, qty=ln.qty, paid=ln.paid, refunded=ln.refunded)
        for ln in lines_of(s, o.id)
    )
    payload = event(
        order_id=o.id, merchant_id=o.merchant_id, member_id=o.member_id, community_id=o.community_id, pickup_point_id=o.pickup_point_id,
        campaign_id=o.campaign_id, team_id=o.team_id, invite_code=o.invite_code, total_paid=o.total_paid, lines=lines, **extra,
    )
    events.emit(s, payload, merchant_id=o.merchant_id, at=now)
