"""Checkout: pricing, stock and limits taken by compare-and-set, payment, expiry."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli import edge
from linli.catalog import service as catalog
from linli.community import rules as geo
from linli.community import service as community
from linli.db import take_counter
from linli.errors import Conflict, DomainError, Invalid
from linli.identity import service as identity
from linli.orders import ports, pricing
from linli.orders.events import OrderCancelled, OrderCreated, OrderPaid
from linli.orders.models import Order, OrderAudit, OrderLine, PurchaseCounter
from linli.orders.rules import Status
from linli.orders.service.common import (
    audit,
    emit,
    lines_of,
    move,
    order_of_member,
    settings_for,
)
from linli.payments import service as payments


@dataclass(frozen=True)
class Address:
    name: str
    phone: str
    text: str
    lat: float
    lng: float


@dataclass(frozen=True)
class NewOrder:
    merchant_id: int
    items: list[tuple[int, int]]  # (sku_id, qty)
    pickup_point_id: int | None = None
    address: Address | None = None
    campaign_id: int | None = None
    team_id: int | None = None
    invite_code: str | None = None
    coupon_id: int | None = None
    points: int = 0
    stored_value: int = 0  # fen paid from the member's stored value


class OrderExpired(DomainError):
    status = 409
    code = "order.expired"
    title = "Order expired"
    keep_changes = True  # the expiry itself is recorded


def _merge_items(items: list[tuple[int, int]], max_qty: int) -> dict[int, int]:
    if not items:
        raise Invalid("order.empty", "An order needs at least one item.")
    if len(items) > 50:
        raise Invalid("order.too_many_lines", "An order has at most 50 lines.")
    merged: dict[int, int] = {}
    for sku_id, qty in items:
        if qty <= 0:
            raise Invalid("order.qty_invalid", "Quantities must be at least 1.", sku_id=sku_id)
        merged[sku_id] = merged.get(sku_id, 0) + qty
    for sku_id, qty in merged.items():
        if qty > max_qty:
            raise Invalid("order.qty_over_limit", f"At most {max_qty} of one item per order.", sku_id=sku_id, max_qty=max_qty)
    return merged


def _fulfilment(s: Session, req: NewOrder, radius_m: int) -> tuple[int, int | None, dict | None, int | None]:
    """(community_id, pickup_point_id, address, distance) for pickup or delivery."""
    if (req.pickup_point_id is None) == (req.address is None):
        raise Invalid("order.fulfilment_required", "Choose either a pickup point or a delivery address.")
    if req.pickup_point_id is not None:
        point = community.get_pickup_point(s, req.pickup_point_id)
        if point.merchant_id != req.merchant_id or not point.active:
            raise Invalid("order.pickup_point_invalid", "This pickup point does not serve this shop.")
        return point.community_id, point.id, None, None
    a = req.address
    lat, lng = geo.check_coordinates(a.lat, a.lng)
    phone = identity.require_phone(a.phone)
    name = geo.clean_name(a.name, field="recipient", max_len=30)
    text = geo.clean_name(a.text, field="address", max_len=200)
    nearest = None
    for c in community.public_communities(s, req.merchant_id, limit=500):
        d = geo.distance_m(lat, lng, c.lat, c.lng)
        if nearest is None or d < nearest[1]:
            nearest = (c, d)
    if nearest is None or nearest[1] > radius_m:
        raise Invalid("order.out_of_delivery_range", f"Delivery reaches addresses within {radius_m // 1000} km of our communities; choose a pickup point.", radius_m=radius_m)
    return nearest[0].id, None, {"name": name, "phone": phone, "text": text, "lat": lat, "lng": lng}, nearest[1]


def _take_limits(s: Session, merchant_id: int, member_id: int, per_product: dict[int, tuple[int, int]]) -> None:
    """Per-member limits: compare-and-set on the member's counter for each product."""
    for product_id in sorted(per_product):
        qty, limit = per_product[product_id]
        if not take_counter(s, PurchaseCounter, {"member_id": member_id, "product_id": product_id}, qty, limit, merchant_id=merchant_id):
            raise Conflict("order.member_limit", f"You may buy at most {limit} of this product.", product_id=product_id, limit=limit)


def create_order(s: Session, member_id: int, req: NewOrder, now: datetime, *, accepted_at: datetime | None = None) -> Order:
    """Place an order. ``accepted_at``: when a queue accepted it (a flash-sale rush), if
    earlier than ``now``: the campaign is judged, and the order dated, at that moment,
    while the time to pay starts ``now``, when the buyer can pay."""
    placed_at, now = now, accepted_at or now
    identity.public_merchant(s, req.merchant_id)
    cfg = settings_for(s, req.merchant_id)
    qty_by_sku = _merge_items(req.items, cfg.max_qty_per_line)
    views = catalog.sku_views(s, list(qty_by_sku))
    for sku_id in qty_by_sku:
        v = views.get(sku_id)
        if v is None or v.merchant_id != req.merchant_id or not v.active:
            raise Invalid("order.sku_unknown", "An item is not sold by this shop.", sku_id=sku_id)
    community_id, point_id, address, distance = _fulfilment(s, req, cfg.delivery_radius_m)

    preq = ports.PricingRequest(req.merchant_id, member_id, qty_by_sku, req.campaign_id, req.team_id, req.coupon_id, req.points, req.invite_code, now, req.stored_value)
    terms = ports.campaign.get().apply(s, preq)
    line_ins = [pricing.LineIn(sid, q, views[sid].price, terms.prices.get(sid)) for sid, q in sorted(qty_by_sku.items())]
    priced = [ports.PricedLine(ln.sku_id, views[ln.sku_id].product_id, views[ln.sku_id].category, ln.qty, unit, unit * ln.qty, ln.campaign_price is not None)
              for ln in line_ins for unit in [ln.campaign_price if ln.campaign_price is not None else ln.base_price]]
    rewards = ports.rewards.get().apply(s, preq, priced, terms)
    if rewards.unit_prices:  # the member's level price on the lines no campaign priced
        line_ins = [replace(ln, member_price=rewards.unit_prices[ln.sku_id]) if ln.sku_id in rewards.unit_prices and ln.campaign_price is None else ln for ln in line_ins]
    quote = pricing.price(line_ins, coupon_off=rewards.coupon_off, coupon_weights=rewards.coupon_weights, points_fen=rewards.points, stored_value=rewards.stored_value)

    per_product: dict[int, tuple[int, int]] = {}
    for sid, q in qty_by_sku.items():
        v = views[sid]
        if v.limit_per_member:
            have = per_product.get(v.product_id, (0, v.limit_per_member))[0]
            per_product[v.product_id] = (have + q, v.limit_per_member)
    _take_limits(s, req.merchant_id, member_id, per_product)
    # Stock in primary-key order, so two multi-line carts never wait on each other in a cycle.
    for sid in sorted(qty_by_sku):
        if not catalog.take_stock(s, sid, qty_by_sku[sid]):
            raise Conflict("stock.sold_out", f"{views[sid].product_name} · {views[sid].sku_name} is sold out.", sku_id=sid)

    o = Order(
        merchant_id=req.merchant_id, member_id=member_id, status=Status.pending_payment.value,
        subtotal=quote.subtotal, coupon=quote.coupon, points_fen=quote.points_fen, stored_value=quote.stored_value,
        total_paid=quote.total_paid, payable=quote.payable, community_id=community_id, pickup_point_id=point_id,
        address=address, delivery_distance_m=distance, campaign_id=terms.campaign_id, team_id=terms.team_id,
        invite_code=req.invite_code or terms.invite_code, created_at=now, expires_at=placed_at + timedelta(minutes=cfg.unpaid_minutes),
    )
    s.add(o)
    s.flush()
    for ln in quote.lines:
        v = views[ln.sku_id]
        s.add(OrderLine(
            order_id=o.id, merchant_id=o.merchant_id, sku_id=ln.sku_id, product_id=v.product_id, product_name=v.product_name,
            sku_name=v.sku_name, category=v.category, qty=ln.qty, base_price=ln.base_price, unit_price=ln.unit_price,
            amount=ln.amount, coupon=ln.coupon, points_fen=ln.points, paid=ln.paid,
        ))
    ports.campaign.get().attach(s, o.id, member_id, terms, now)
    ports.rewards.get().attach(s, o.id, preq, rewards)
    audit(s, o, "created", actor=member_id, kind="member", dst=o.status, detail={"payable": o.payable}, now=now)
    s.flush()
    emit(s, OrderCreated, o, now, **edge.stamp())
    return o


def release(s: Session, o: Order, now: datetime, *, restock: bool = True) -> None:
    """Give back what a cancelled order held: stock (unless the goods left) and the
    per-member limit counts."""
    ports.campaign.get().release(s, o.id)
    lines = lines_of(s, o.id)
    views = catalog.sku_views(s, [ln.sku_id for ln in lines])
    for ln in lines:
        if restock:
            catalog.return_stock(s, ln.sku_id, ln.qty)
        v = views.get(ln.sku_id)
        if v is not None and v.limit_per_member:
            s.execute(
                update(PurchaseCounter)
                .where(PurchaseCounter.member_id == o.member_id, PurchaseCounter.product_id == ln.product_id, PurchaseCounter.qty >= ln.qty)
                .values(qty=PurchaseCounter.qty - ln.qty)
            )
    # Last, as checkout takes them last (after stock): the member's coupon, points and stored
    # value, so a cancel and a new order of the same member never wait on each other in a cycle.
    ports.rewards.get().release(s, o.id, now)


def cancel_unpaid(s: Session, o: Order, now: datetime, *, reason: str, actor: int | None, kind: str) -> bool:
    """pending_payment → cancelled (compare-and-set), returning stock. False if it was
    paid or cancelled meanwhile."""
    if o.status != Status.pending_payment.value:
        return False
    if not move(s, o, Status.cancelled.value, action="cancelled", actor=actor, kind=kind, now=now, detail={"reason": reason}, cancelled_at=now, cancel_reason=reason):
        return False
    release(s, o, now)
    payments.close_pending(s, o.id)
    emit(s, OrderCancelled, o, now, reason=reason, was_paid=False)
    return True


def cancel_unpaid_order(s: Session, order_id: int, now: datetime, *, reason: str) -> bool:
    """The system cancels an unpaid order (e.g. its team failed). False if there is no
    such order or it was paid or cancelled meanwhile."""
    o = s.get(Order, order_id)
    return o is not None and cancel_unpaid(s, o, now, reason=reason, actor=None, kind="system")


def cancel_by_member(s: Session, member_id: int, order_id: int, now: datetime) -> Order:
    o = order_of_member(s, member_id, order_id)
    if o.status != Status.pending_payment.value:
        raise Conflict("order.not_cancellable", "Only unpaid orders can be cancelled; ask for a refund instead.", status_now=o.status)
    if not cancel_unpaid(s, o, now, reason="buyer_cancelled", actor=member_id, kind="member"):
        raise Conflict("order.changed", "The order changed meanwhile; reload it.", status_now=o.status)
    return o


def start_payment(s: Session, member_id: int, order_id: int, now: datetime) -> payments.Payment | None:
    """Open (or reuse) the payment intent of an unpaid order. None when nothing is due
    (the order is paid at once)."""
    o = payable(s, member_id, order_id, now)
    return None if o is None else payments.open_intent(s, o.merchant_id, o.id, o.member_id, o.payable, now)


def pay_with(s: Session, member_id: int, order_id: int, now: datetime, pay: payments.PayWith) -> payments.Checkout | None:
    """Open the payment of an unpaid order at a real provider (``pay.method``), which
    refuses it after the order expires; None when nothing is due."""
    o = payable(s, member_id, order_id, now)
    if o is None:
        return None
    return payments.open_checkout(s, o.merchant_id, o.id, o.member_id, o.payable, now, replace(pay, expires_at=o.expires_at))


def payable(s: Session, member_id: int, order_id: int, now: datetime) -> Order | None:
    """The member's unpaid order, or None when nothing is due (then it is paid at once)."""
    o = order_of_member(s, member_id, order_id)
    if o.status == Status.cancelled.value:
        raise Conflict("order.cancelled", "This order was cancelled; place a new one.")
    if o.status != Status.pending_payment.value:
        raise Conflict("order.not_payable", "This order is already paid.", status_now=o.status)
    if now >= o.expires_at:
        cancel_unpaid(s, o, now, reason="payment_timeout", actor=None, kind="system")
        raise OrderExpired(detail="The order was not paid within the time limit and has been cancelled.")
    if o.payable == 0:
        mark_paid(s, o.id, None, now)
        return None
    return o


def _new_pickup_code(s: Session, point_id: int) -> str:
    for _ in range(50):
        code = f"{secrets.randbelow(1_000_000):06d}"
        taken = s.scalars(select(Order.id).where(Order.pickup_point_id == point_id, Order.open_pickup_code == code)).first()
        if taken is None:
            return code
    raise Conflict("pickup.codes_exhausted", "Could not find a free pickup code; try again.")


def mark_paid(s: Session, order_id: int, payment_id: int | None, now: datetime, *, payer: str | None = None) -> str:
    """Record that an order's money arrived (``payer``: the keyed hash of the payer account,
    carried on ``order.paid``). Returns what happened: ``paid``, ``duplicate`` or
    ``refunded`` (money for an order already cancelled goes back: it is never fulfilled
    from stock that was released)."""
    o = s.get(Order, order_id)
    if o.status == Status.pending_payment.value:
        values = {"paid_at": now}
        if o.pickup_point_id is not None:
            code = _new_pickup_code(s, o.pickup_point_id)
            values.update(pickup_code=code, open_pickup_code=code)
        if move(s, o, Status.paid.value, action="paid", actor=None, kind="gateway", now=now, detail={"payment_id": payment_id}, **values):
            emit(s, OrderPaid, o, now, paid_at=now, payer=payer)
            if ports.campaign.get().holds(s, o.id, o.campaign_id, o.team_id):
                # A team or community threshold: the order waits until the group forms.
                move(s, o, Status.grouping.value, action="grouping", actor=None, kind="system", now=now)
            return "paid"
    if payment_id is None:
        return "duplicate"
    paid_by = paid_by_payment(s, o.id)
    if paid_by == payment_id or (paid_by is None and o.status != Status.cancelled.value):
        return "duplicate"  # the payment that paid it, told again
    # Money that arrived for an order cancelled first, or a second payment of an order
    # another payment paid (a second payment sheet, a switch of method): it goes back, that
    # very payment, once — never kept, never fulfilled.
    payment = payments.get_payment(s, payment_id)
    why = "late_payment" if o.status == Status.cancelled.value else "duplicate_payment"
    payments.refund_payment(s, payment_id, payment.amount, f"{why}:{payment_id}", now)
    audit(s, o, f"{why}_refunded", actor=None, kind="system", detail={"payment_id": payment_id, "amount": payment.amount}, now=now)
    return "refunded"


def paid_by_payment(s: Session, order_id: int) -> int | None:
    """The payment that moved the order to paid (its audit row says), if one did: the one
    refunds go back through (a second payment of the order was refunded whole)."""
    details = s.scalars(select(OrderAudit.detail).where(OrderAudit.order_id == order_id, OrderAudit.action == "paid")).all()
    return next((d.get("payment_id") for d in details if d), None)


def expire_unpaid(s: Session, order_id: int, as_of: datetime) -> bool:
    o = s.get(Order, order_id)
    if o is None or o.status != Status.pending_payment.value or o.expires_at > as_of:
        return False
    return cancel_unpaid(s, o, as_of, reason="payment_timeout", actor=None, kind="system")


def due_unpaid(s: Session, as_of: datetime, limit: int = 1000) -> list[int]:
    return list(s.scalars(select(Order.id).where(Order.status == Status.pending_payment.value, Order.expires_at <= as_of).order_by(Order.id).limit(limit)))
