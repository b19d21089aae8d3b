"""Pure order rules: the merchant's order settings, the state machine, refund bounds,
pickup codes, deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from linli.errors import Conflict
from linli.knobs import Knob, Spec

# Per-merchant order settings (RULES.md defaults): the one place their defaults and bounds
# are written; the table, the API, the order desk and ``service.settings.put`` read them.
SETTINGS = Spec("order", (
    Knob("unpaid_minutes", 15, 5, 24 * 60, unit="minutes"),
    Knob("auto_confirm_days", 7, 1, 30, unit="days"),
    Knob("after_sales_days", 7, 1, 60, unit="days"),
    Knob("quick_refund_max", 3000, 0, 1_000_000, unit="fen"),  # 坏果包赔 up to this; 0 turns it off
    Knob("quick_refund_hours", 48, 1, 24 * 14, unit="hours"),
    Knob("delivery_radius_m", 3000, 100, 50_000, unit="m"),
    Knob("max_qty_per_line", 99, 1, 9999, unit="units"),
), code="order.settings_invalid")


class Status(StrEnum):
    pending_payment = "pending_payment"
    paid = "paid"
    grouping = "grouping"  # a group-buy order waiting for its team to fill
    fulfilling = "fulfilling"
    ready_for_pickup = "ready_for_pickup"
    delivering = "delivering"
    received = "received"
    completed = "completed"
    cancelled = "cancelled"


S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.pending_payment: frozenset({S.paid, S.cancelled}),
    S.paid: frozenset({S.grouping, S.fulfilling, S.ready_for_pickup, S.delivering, S.cancelled}),
    S.grouping: frozenset({S.paid, S.cancelled}),
    S.fulfilling: frozenset({S.ready_for_pickup, S.delivering, S.cancelled}),
    S.ready_for_pickup: frozenset({S.received, S.cancelled}),
    S.delivering: frozenset({S.received, S.cancelled}),
    S.received: frozenset({S.completed}),
    S.completed: frozenset(),
    S.cancelled: frozenset(),
}
# Orders whose pickup code is still to be used.
OPEN_FOR_PICKUP = frozenset({S.paid, S.fulfilling, S.ready_for_pickup})
# Orders that hold paid money and may be refunded.
REFUNDABLE = frozenset({S.paid, S.grouping, S.fulfilling, S.ready_for_pickup, S.delivering, S.received, S.completed})
# Timeline labels, in order, for the member's page.
TIMELINE = [S.pending_payment, S.paid, S.fulfilling, S.ready_for_pickup, S.delivering, S.received, S.completed]


def can_move(src: str, dst: str) -> bool:
    return Status(dst) in TRANSITIONS[Status(src)]


def require_move(src: str, dst: str) -> None:
    if not can_move(src, dst):
        raise Conflict("order.bad_state", f"An order that is {src} cannot become {dst}.", status_now=src)


def refundable_left(paid: int, refunded: int, reserved: int) -> int:
    """What may still be asked back on a line: paid minus refunded minus pending requests."""
    return max(paid - refunded - reserved, 0)


def stored_value_share(stored_value: int, total_paid: int, refunded_before: int, amount: int) -> int:
    """The part of a refund of ``amount`` that goes back to stored value rather than through
    the gateway: the order's stored value in proportion to what is refunded, floored
    cumulatively (so refunding the whole order in parts returns exactly its stored value and
    the gateway exactly what it collected). Rewards returns the same share to the member."""
    if stored_value <= 0 or total_paid <= 0:
        return 0
    after = min(refunded_before + amount, total_paid)
    before = min(refunded_before, total_paid)
    return stored_value * after // total_paid - stored_value * before // total_paid


def quick_refund_applies(amount: int, quick_max: int, received_at: datetime | None, now: datetime, window_hours: int) -> bool:
    """坏果包赔: a small request soon after receipt is approved without review."""
    if received_at is None or quick_max <= 0:
        return False
    return amount <= quick_max and now - received_at <= timedelta(hours=window_hours)


def auto_confirm_due(handed_over_at: datetime | None, now: datetime, days: int) -> bool:
    return handed_over_at is not None and now >= handed_over_at + timedelta(days=days)


def completion_due(received_at: datetime | None, now: datetime, after_sales_days: int, open_cases: int) -> bool:
    return received_at is not None and open_cases == 0 and now >= received_at + timedelta(days=after_sales_days)
