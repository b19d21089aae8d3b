"""After-sales: refund requests per line (never more than paid minus refunded, also under
concurrent requests), the quick-refund rule (坏果包赔), staff review, gateway refunds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli.errors import Conflict, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.money import allocate_proportionally
from linli.orders import rules
from linli.orders.events import OrderRefunded, RefundedLine, RefundFacts
from linli.orders.models import Order, OrderLine, RefundCase, RefundCaseLine
from linli.orders.rules import Status
from linli.orders.service.checkout import paid_by_payment, release
from linli.orders.service.common import (
    audit,
    emit,
    lines_of,
    move,
    order_of_member,
    settings_for,
)
from linli.payments import service as payments

MAX_PHOTOS = 9


def request_refund(s: Session, member_id: int, order_id: int, lines: list[tuple[int, int]], reason: str, photos: list[str], now: datetime) -> RefundCase:
    o = order_of_member(s, member_id, order_id)
    if o.status not in rules.REFUNDABLE:
        code = "refund.not_paid" if o.status == Status.pending_payment.value else "refund.not_refundable"
        raise Conflict(code, "This order has no paid money to refund.", status_now=o.status)
    reason = " ".join((reason or "").split())
    if not 1 <= len(reason) <= 200:
        raise Invalid("refund.reason_required", "Say why (1 to 200 characters).")
    if len(photos) > MAX_PHOTOS or any(not isinstance(p, str) or ".." in p or p.startswith("/") for p in photos):
        raise Invalid("refund.photos_invalid", f"Attach at most {MAX_PHOTOS} uploaded photos.")
    if not lines:
        raise Invalid("refund.lines_required", "Choose what to refund.")
    own = {ln.id: ln for ln in lines_of(s, o.id)}
    wanted: dict[int, int] = {}
    for line_id, amount in lines:
        if line_id not in own:
            raise Invalid("refund.line_unknown", "A line is not part of this order.", line_id=line_id)
        if amount <= 0:
            raise Invalid("refund.amount_invalid", "Refund amounts are positive fen.", line_id=line_id)
        wanted[line_id] = wanted.get(line_id, 0) + amount
    # The order first, then its lines, as approving a case takes them: a quick refund and a
    # staff approval of the same order never wait on each other in a cycle.
    s.get(Order, o.id, with_for_update=True, populate_existing=True)
    # Reserve per line by compare-and-set, in id order: concurrent requests can never
    # reserve more than was paid.
    for line_id in sorted(wanted):
        amount = wanted[line_id]
        ok = s.execute(
            update(OrderLine)
            .where(OrderLine.id == line_id, OrderLine.paid - OrderLine.refunded - OrderLine.refund_reserved >= amount)
            .values(refund_reserved=OrderLine.refund_reserved + amount)
        ).rowcount
        if ok != 1:
            s.refresh(own[line_id])
            ln = own[line_id]
            left = rules.refundable_left(ln.paid, ln.refunded, ln.refund_reserved)
            raise Conflict("refund.exceeds_paid", f"At most {left} fen of this line can still be refunded.", line_id=line_id, refundable=left)
    total = sum(wanted.values())
    case = RefundCase(merchant_id=o.merchant_id, order_id=o.id, member_id=member_id, status="requested", amount=total, reason=reason, photos=list(photos), created_at=now)
    s.add(case)
    s.flush()
    s.add_all([RefundCaseLine(case_id=case.id, merchant_id=case.merchant_id, line_id=lid, amount=a) for lid, a in sorted(wanted.items())])
    audit(s, o, "refund_requested", actor=member_id, kind="member", detail={"case_id": case.id, "amount": total}, now=now)
    s.flush()
    cfg = settings_for(s, o.merchant_id)
    if rules.quick_refund_applies(total, cfg.quick_refund_max, o.received_at, now, cfg.quick_refund_hours):
        case.auto_approved = True
        _execute(s, case, None, "system", now, note="quick refund (坏果包赔)")
    return case


def _case_lines(s: Session, case_id: int) -> list[RefundCaseLine]:
    return list(s.scalars(select(RefundCaseLine).where(RefundCaseLine.case_id == case_id).order_by(RefundCaseLine.line_id)))


def _execute(s: Session, case: RefundCase, actor: int | None, kind: str, now: datetime, note: str | None = None, *, keep_order: bool = False, by_system: bool = False) -> None:
    """Approve and pay back: gateway refund, line amounts, order totals, events. With
    ``keep_order`` a full refund leaves the order going on (a free order: 团长免单);
    ``by_system``: no buyer asked for it (``system_refund``)."""
    if s.execute(update(RefundCase).where(RefundCase.id == case.id, RefundCase.status == "requested").values(status="approved", decided_by=actor, decided_at=now, decision_note=note)).rowcount != 1:
        raise Conflict("refund.already_decided", "This refund request was already decided.")
    # The order's row, locked and fresh: two refunds of one order approved at once take turns,
    # so each splits its share of stored value from what the other already refunded.
    o = s.get(Order, case.order_id, with_for_update=True, populate_existing=True)
    # What stored value paid goes back to it (rewards' refund handler), the rest through the gateway.
    through_gateway = case.amount - rules.stored_value_share(o.stored_value, o.total_paid, o.refunded, case.amount)
    if through_gateway > 0:
        paid_by = paid_by_payment(s, o.id)
        if paid_by is not None:  # that very payment: a second one of the order was refunded whole
            payments.refund_payment(s, paid_by, through_gateway, f"refund_case:{case.id}", now)
        else:  # an order paid before payments were named on its audit row
            payments.refund(s, o.id, through_gateway, f"refund_case:{case.id}", now)
    changed: list[RefundedLine] = []
    for cl in _case_lines(s, case.id):
        s.execute(update(OrderLine).where(OrderLine.id == cl.line_id).values(refunded=OrderLine.refunded + cl.amount, refund_reserved=OrderLine.refund_reserved - cl.amount))
        changed.append(RefundedLine(line_id=cl.line_id, amount=cl.amount))
    s.execute(update(Order).where(Order.id == o.id).values(refunded=Order.refunded + case.amount))
    s.execute(update(RefundCase).where(RefundCase.id == case.id).values(status="refunded", refunded_at=now))
    s.refresh(o)
    s.refresh(case)
    full = o.refunded >= o.total_paid
    audit(s, o, "refunded", actor=actor, kind=kind, detail={"case_id": case.id, "amount": case.amount, "full": full}, now=now)
    if full and not keep_order and o.status in rules.OPEN_FOR_PICKUP | {Status.grouping, Status.delivering}:
        # Fully refunded before receipt: the order ends; goods not yet handed over go back
        # on sale.
        restock = o.status in (Status.paid.value, Status.grouping.value, Status.fulfilling.value)
        if move(s, o, Status.cancelled.value, action="cancelled", actor=actor, kind=kind, now=now, cancelled_at=now, cancel_reason="refunded", open_pickup_code=None):
            release(s, o, now, restock=restock)
    emit(s, OrderRefunded, o, now, refund=RefundFacts(case_id=case.id, amount=case.amount, lines=tuple(changed)), full=full, order_kept=full and keep_order, by_system=by_system)


def _staff_case(s: Session, who: Principal, merchant_id: int, case_id: int) -> RefundCase:
    identity.require_permission(s, who, merchant_id, Permission.after_sales)
    case = s.get(RefundCase, case_id)
    if case is None or case.merchant_id != merchant_id:
        raise NotFound("refund.not_found", "No such refund request.")
    if case.status != "requested":
        raise Conflict("refund.already_decided", "This refund request was already decided.", status_now=case.status)
    return case


def approve(s: Session, who: Principal, merchant_id: int, case_id: int, now: datetime, note: str | None = None) -> RefundCase:
    case = _staff_case(s, who, merchant_id, case_id)
    _execute(s, case, who.member_id, "staff", now, note)
    return case


def reject(s: Session, who: Principal, merchant_id: int, case_id: int, reason: str, now: datetime) -> RefundCase:
    case = _staff_case(s, who, merchant_id, case_id)
    reason = " ".join((reason or "").split())
    if not 1 <= len(reason) <= 200:
        raise Invalid("refund.reason_required", "Tell the buyer why (1 to 200 characters).")
    if s.execute(update(RefundCase).where(RefundCase.id == case.id, RefundCase.status == "requested").values(status="rejected", decided_by=who.member_id, decided_at=now, decision_note=reason)).rowcount != 1:
        raise Conflict("refund.already_decided", "This refund request was already decided.")
    for cl in _case_lines(s, case.id):
        s.execute(update(OrderLine).where(OrderLine.id == cl.line_id).values(refund_reserved=OrderLine.refund_reserved - cl.amount))
    o = s.get(Order, case.order_id)
    audit(s, o, "refund_rejected", actor=who.member_id, kind="staff", detail={"case_id": case.id, "reason": reason}, now=now)
    s.refresh(case)
    return case


def cases_of_order(s: Session, order_id: int) -> list[RefundCase]:
    return list(s.scalars(select(RefundCase).where(RefundCase.order_id == order_id).order_by(RefundCase.id)))


def case_lines(s: Session, case_ids: list[int]) -> dict[int, list[RefundCaseLine]]:
    out: dict[int, list[RefundCaseLine]] = {cid: [] for cid in case_ids}
    if case_ids:
        for cl in s.scalars(select(RefundCaseLine).where(RefundCaseLine.case_id.in_(case_ids)).order_by(RefundCaseLine.id)):
            out[cl.case_id].append(cl)
    return out


def list_cases(s: Session, who: Principal, merchant_id: int, status: str | None = None, limit: int = 200) -> list[RefundCase]:
    identity.require_permission(s, who, merchant_id, Permission.after_sales)
    stmt = select(RefundCase).where(RefundCase.merchant_id == merchant_id).order_by(RefundCase.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(RefundCase.status == status)
    return list(s.scalars(stmt))


def system_refund(s: Session, order_id: int, amount: int | None, reason: str, now: datetime, *, keep_order: bool = False) -> RefundCase | None:
    """A refund the system decides (a team that failed, a threshold rebate, a campaign
    cancelled): ``amount`` fen, or everything still refundable when None, spread over the
    lines in proportion to what each can still give back, and paid at once. Returns None
    when nothing is left to refund. Callers make it idempotent (state compare-and-set or a
    marker row), since two system refunds of one order are two real refunds. ``keep_order``:
    the goods still go out after a full refund (a team leader's free order)."""
    o = s.get(Order, order_id, with_for_update=True, populate_existing=True)  # the order, then its lines (see request_refund)
    if o is None or o.status not in rules.REFUNDABLE:
        return None
    if amount is None:
        _supersede_requests(s, o, reason, now)
    lines = lines_of(s, o.id)
    left = [rules.refundable_left(ln.paid, ln.refunded, ln.refund_reserved) for ln in lines]
    want = sum(left) if amount is None else min(amount, sum(left))
    if want <= 0:
        return None
    parts = allocate_proportionally(want, left)
    for ln, part in zip(lines, parts):
        if part and s.execute(
            update(OrderLine).where(OrderLine.id == ln.id, OrderLine.paid - OrderLine.refunded - OrderLine.refund_reserved >= part).values(refund_reserved=OrderLine.refund_reserved + part)
        ).rowcount != 1:
            raise Conflict("refund.exceeds_paid", "The order changed meanwhile; try again.", line_id=ln.id)
    case = RefundCase(merchant_id=o.merchant_id, order_id=o.id, member_id=o.member_id, status="requested", amount=want, reason=reason[:200], photos=[], auto_approved=True,
                      by_system=True, created_at=now)
    s.add(case)
    s.flush()
    s.add_all([RefundCaseLine(case_id=case.id, merchant_id=case.merchant_id, line_id=ln.id, amount=part) for ln, part in zip(lines, parts) if part])
    s.flush()
    _execute(s, case, None, "system", now, note=reason[:200], keep_order=keep_order, by_system=True)
    return case


def open_requests(s: Session, order_id: int) -> int:
    """Refund requests of an order still waiting for a decision."""
    return len(s.scalars(select(RefundCase.id).where(RefundCase.order_id == order_id, RefundCase.status == "requested")).all())


def _supersede_requests(s: Session, o: Order, reason: str, now: datetime) -> None:
    """A full system refund pays back everything, so requests still under review are
    closed (their reserved amounts freed) rather than left to be approved on top."""
    for case in s.scalars(select(RefundCase).where(RefundCase.order_id == o.id, RefundCase.status == "requested").with_for_update()).all():
        if s.execute(update(RefundCase).where(RefundCase.id == case.id, RefundCase.status == "requested").values(status="rejected", decided_at=now, decision_note=f"superseded by a full refund ({reason})"[:200])).rowcount != 1:
            continue
        for cl in _case_lines(s, case.id):
            s.execute(update(OrderLine).where(OrderLine.id == cl.line_id).values(refund_reserved=OrderLine.refund_reserved - cl.amount))
        audit(s, o, "refund_rejected", actor=None, kind="system", detail={"case_id": case.id, "reason": "superseded"}, now=now)
    s.flush()
