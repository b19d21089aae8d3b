"""Fulfilment: preparing, arrival at the pickup point, pickup verification (核销),
delivery updates, receipt (by the buyer, or automatically), completion."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.community import service as community
from linli.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.orders import rules
from linli.orders.events import OrderCompleted, OrderHandedOver, OrderReceived
from linli.orders.models import Order, RefundCase
from linli.orders.rules import Status
from linli.orders.service.common import (
    audit,
    emit,
    move,
    move_or_conflict,
    order_of_member,
    settings_for,
)

MAX_PICKUP_FAILURES = 5


class WrongPickupCode(DomainError):
    status = 422
    code = "pickup.code_invalid"
    title = "Wrong pickup code"
    keep_changes = True  # the failed attempt is counted


def _staff_can(s: Session, who: Principal, merchant_id: int) -> bool:
    if who.is_admin:
        return True
    role = identity.staff_role(s, who.member_id, merchant_id)
    from linli.identity.rules import role_allows

    return role is not None and role_allows(role, Permission.after_sales)


def point_actor(s: Session, who: Principal, point_id: int) -> str:
    """'leader' or 'staff' if ``who`` may act at this pickup point; 403 otherwise."""
    point = community.get_pickup_point(s, point_id)
    if community.is_leader_of_point(s, who.member_id, point_id):
        return "leader"
    if _staff_can(s, who, point.merchant_id):
        return "staff"
    raise Forbidden("pickup.not_your_point", "Only this pickup point's leader or the shop's staff may do this.")


def staff_order(s: Session, who: Principal, merchant_id: int, order_id: int) -> Order:
    identity.require_permission(s, who, merchant_id, Permission.after_sales)
    o = s.get(Order, order_id)
    if o is None or o.merchant_id != merchant_id:
        raise NotFound("order.not_found", "No such order.")
    return o


def start_fulfilment(s: Session, who: Principal, merchant_id: int, order_id: int, now: datetime) -> Order:
    o = staff_order(s, who, merchant_id, order_id)
    move_or_conflict(s, o, Status.fulfilling.value, action="fulfilling", actor=who.member_id, kind="staff", now=now)
    return o


def _hand_over(s: Session, o: Order, dst: str, who: Principal, kind: str, now: datetime, note: str | None = None) -> None:
    move_or_conflict(s, o, dst, action=dst, actor=who.member_id, kind=kind, now=now, detail={"note": note} if note else None, handed_over_at=now, delivery_note=note)
    emit(s, OrderHandedOver, o, now, status=dst)


def mark_ready(s: Session, who: Principal, merchant_id: int, order_id: int, now: datetime) -> Order:
    o = staff_order(s, who, merchant_id, order_id)
    if o.pickup_point_id is None:
        raise Conflict("order.not_pickup", "This order is delivered, not picked up.")
    _hand_over(s, o, Status.ready_for_pickup.value, who, "staff", now)
    return o


def point_arrived(s: Session, who: Principal, point_id: int, now: datetime) -> list[int]:
    """Goods have arrived at the pickup point (到货): every paid or preparing order there
    becomes ready for pickup. Returns the order ids moved."""
    kind = point_actor(s, who, point_id)
    moved = []
    for o in s.scalars(select(Order).where(Order.pickup_point_id == point_id, Order.status.in_((Status.paid.value, Status.fulfilling.value))).order_by(Order.id)):
        if move(s, o, Status.ready_for_pickup.value, action="arrived", actor=who.member_id, kind=kind, now=now, handed_over_at=now):
            emit(s, OrderHandedOver, o, now, status=Status.ready_for_pickup.value)
            moved.append(o.id)
    return moved


DELIVERY_ACTIONS = ("dispatched", "update", "delivered")


def delivery_update(s: Session, who: Principal, merchant_id: int, order_id: int, action: str, note: str | None, now: datetime) -> Order:
    """Staff report delivery progress: dispatched (out for delivery), a free-text update,
    or delivered (signed for at the door, which counts as received)."""
    o = staff_order(s, who, merchant_id, order_id)
    if o.address is None:
        raise Conflict("order.not_delivery", "This order is picked up, not delivered.")
    if action not in DELIVERY_ACTIONS:
        raise Invalid("delivery.action_invalid", f"Action is one of {', '.join(DELIVERY_ACTIONS)}.")
    note = (note or "").strip()[:200] or None
    if action == "dispatched":
        _hand_over(s, o, Status.delivering.value, who, "staff", now, note)
    elif action == "update":
        if o.status != Status.delivering.value:
            raise Conflict("order.bad_state", "Updates are for orders out for delivery.", status_now=o.status)
        if not note:
            raise Invalid("delivery.note_required", "Write what happened.")
        audit(s, o, "delivery_update", actor=who.member_id, kind="staff", detail={"note": note}, now=now)
        o.delivery_note = note
    else:
        _receive(s, o, who.member_id, "staff", now, "delivered")
    s.flush()
    return o


def _receive(s: Session, o: Order, actor: int | None, kind: str, now: datetime, action: str) -> None:
    move_or_conflict(s, o, Status.received.value, action=action, actor=actor, kind=kind, now=now, received_at=now, open_pickup_code=None)
    emit(s, OrderReceived, o, now, received_at=now)


def verify_pickup(s: Session, who: Principal, order_id: int, code: str, now: datetime) -> Order:
    """核销: the leader of the order's pickup point (or shop staff) checks the buyer's code."""
    o = s.get(Order, order_id)
    if o is None or o.pickup_point_id is None:
        raise NotFound("order.not_found", "No such pickup order.")
    kind = point_actor(s, who, o.pickup_point_id)
    if o.status not in rules.OPEN_FOR_PICKUP:
        raise Conflict("pickup.not_open", "This order is not waiting for pickup.", status_now=o.status)
    if kind == "leader" and o.pickup_failures >= MAX_PICKUP_FAILURES:
        raise Conflict("pickup.locked", "Too many wrong codes for this order; shop staff must verify it.")
    if (code or "").strip() != o.pickup_code:
        o.pickup_failures += 1
        audit(s, o, "pickup_code_wrong", actor=who.member_id, kind=kind, detail={"failures": o.pickup_failures}, now=now)
        s.flush()
        raise WrongPickupCode(detail="The pickup code does not match this order.", attempts_left=max(MAX_PICKUP_FAILURES - o.pickup_failures, 0))
    if o.status != Status.ready_for_pickup.value:
        # The buyer is at the counter with the goods: arrival is implied.
        move_or_conflict(s, o, Status.ready_for_pickup.value, action="arrived", actor=who.member_id, kind=kind, now=now, handed_over_at=now)
    _receive(s, o, who.member_id, kind, now, "picked_up")
    return o


def find_by_code(s: Session, who: Principal, point_id: int, code: str, limiter) -> tuple[Order, str]:
    """The open order at this point with this code, and the code (for the leader's scan
    page: a typed 6-digit code or a scanned ``linli:pickup:<order>:<code>``). Misses count
    against the verifier's rate limit, so codes cannot be guessed by trying."""
    point_actor(s, who, point_id)
    code = (code or "").strip()
    order_id = None
    if code.startswith("linli:pickup:"):
        _, _, rest = code.partition("linli:pickup:")
        oid, _, code = rest.partition(":")
        order_id = int(oid) if oid.isdigit() else -1
    o = None
    if code.isdigit() and len(code) == 6:
        stmt = select(Order).where(Order.pickup_point_id == point_id, Order.open_pickup_code == code)
        if order_id is not None:
            stmt = stmt.where(Order.id == order_id)
        o = s.scalars(stmt).first()
    if o is None:
        limiter.hit("pickup_miss", f"{who.member_id}:{point_id}", code="pickup.rate_limited")
        raise NotFound("pickup.code_unknown", "No open order at this pickup point has this code.")
    return o, code


def confirm_receipt(s: Session, member_id: int, order_id: int, now: datetime) -> Order:
    o = order_of_member(s, member_id, order_id)
    if o.status not in (Status.ready_for_pickup.value, Status.delivering.value):
        raise Conflict("order.not_receivable", "Only orders ready for pickup or out for delivery can be confirmed.", status_now=o.status)
    _receive(s, o, member_id, "member", now, "confirmed")
    return o


def auto_confirm(s: Session, order_id: int, as_of: datetime) -> bool:
    o = s.get(Order, order_id)
    if o is None or o.status not in (Status.ready_for_pickup.value, Status.delivering.value):
        return False
    if not rules.auto_confirm_due(o.handed_over_at, as_of, settings_for(s, o.merchant_id).auto_confirm_days):
        return False
    _receive(s, o, None, "system", as_of, "auto_confirmed")
    return True


def due_auto_confirm(s: Session, as_of: datetime, limit: int = 1000) -> list[int]:
    # Coarse filter in SQL (no merchant confirms sooner than the setting's lower bound); the rule decides per order.
    return list(
        s.scalars(
            select(Order.id)
            .where(Order.status.in_((Status.ready_for_pickup.value, Status.delivering.value)), Order.handed_over_at <= as_of - timedelta(days=rules.SETTINGS.bounds("auto_confirm_days")[0]))
            .order_by(Order.id)
            .limit(limit)
        )
    )


def open_cases(s: Session, order_id: int) -> int:
    return s.scalar(select(func.count()).select_from(RefundCase).where(RefundCase.order_id == order_id, RefundCase.status.in_(("requested", "approved")))) or 0


def complete(s: Session, order_id: int, as_of: datetime) -> bool:
    o = s.get(Order, order_id)
    if o is None or o.status != Status.received.value:
        return False
    if not rules.completion_due(o.received_at, as_of, settings_for(s, o.merchant_id).after_sales_days, open_cases(s, o.id)):
        return False
    if move(s, o, Status.completed.value, action="completed", actor=None, kind="system", now=as_of, completed_at=as_of):
        emit(s, OrderCompleted, o, as_of)
        return True
    return False


def due_completion(s: Session, as_of: datetime, limit: int = 1000) -> list[int]:
    return list(s.scalars(select(Order.id).where(Order.status == Status.received.value, Order.received_at <= as_of - timedelta(days=rules.SETTINGS.bounds("after_sales_days")[0])).order_by(Order.id).limit(limit)))


def release_hold(s: Session, order_id: int, now: datetime, reason: str) -> bool:
    """grouping → paid: the team filled or the community threshold closed, so the order
    goes on to fulfilment. False if it was not waiting (already released or cancelled)."""
    o = s.get(Order, order_id)
    if o is None or o.status != Status.grouping.value:
        return False
    return move(s, o, Status.paid.value, action="group_formed", actor=None, kind="system", now=now, detail={"reason": reason})
