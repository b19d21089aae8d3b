"""The events orders emits — its public contract (pure: the kernel's ``EventPayload`` only).

Every order event carries the order's facts (``OrderFacts``: who, where, through which
campaign, team or invite code, what was paid per line) plus what the step adds:

- ``order.created`` v1: an order was placed, with the buyer's request ``edge`` (hashed
  device and IP; absent in older rows or without a request). Risk records its signals.
- ``order.cancelled`` v1: an unpaid order was cancelled (``reason``: buyer_cancelled,
  payment_timeout, …; ``was_paid`` is always false — a paid order is refunded instead).
- ``order.paid`` v1: the order's money arrived (``paid_at``), with the ``payer``: the keyed
  hash (linli.edge) of the gateway's payer account, from ``payment.succeeded`` (absent in
  older rows, for an order paid without the gateway — nothing to pay — or when the gateway
  names no payer). Commission accrues (risk may screen out beneficiaries who share the
  payer); campaigns count a group-buy seat and announce ``campaign.purchased``.
- ``order.refunded`` v1: a refund case was paid back (``refund``: the case, its amount and
  lines; ``full``: nothing is left paid; ``order_kept``: the order goes on all the same, a
  free order — absent in rows written before it existed, read as false; ``by_system``: the
  system decided it — a campaign's rebate, a failed team, a free order — rather than a
  buyer asking for their money back; absent in older rows, read as false). Commission
  reverses or claws back; rewards returns points, stored value and (not for a kept order)
  the coupon; risk counts only a buyer's refunds towards a sharer's refund rate.
- ``order.handed_over`` v1: ready for pickup or out for delivery (``status``).
- ``order.received`` v1: the buyer received the goods (``received_at``). Referral may
  promote the buyer to sharer.
- ``order.completed`` v1: the after-sales window closed. Commission settles (realtime) or
  marks the order due (T+1).

Amounts are fen; line ``paid`` and ``refunded`` are the line's totals at the time.
"""

from __future__ import annotations

from linli.edge import EdgeFacts
from linli.events import EventPayload, IsoDatetime, PayloadPart


class LineFacts(PayloadPart):
    line_id: int
    sku_id: int
    product_id: int
    category: str
    qty: int
    paid: int
    refunded: int


class OrderFacts(EventPayload):
    """What every order event carries (a base: never emitted as such)."""

    order_id: int
    merchant_id: int
    member_id: int
    community_id: int | None
    pickup_point_id: int | None
    campaign_id: int | None
    team_id: int | None
    invite_code: str | None
    total_paid: int
    lines: tuple[LineFacts, ...]


class OrderCreated(OrderFacts):
    NAME = "order.created"
    edge: EdgeFacts | None = None


class OrderCancelled(OrderFacts):
    NAME = "order.cancelled"
    reason: str
    was_paid: bool


class OrderPaid(OrderFacts):
    NAME = "order.paid"
    paid_at: IsoDatetime
    payer: str | None = None  # keyed hash of the payer account (payment.succeeded's ``payer``)


class RefundedLine(PayloadPart):
    line_id: int
    amount: int


class RefundFacts(PayloadPart):
    case_id: int
    amount: int
    lines: tuple[RefundedLine, ...]


class OrderRefunded(OrderFacts):
    NAME = "order.refunded"
    refund: RefundFacts
    full: bool
    order_kept: bool = False  # a full refund that leaves the order going on (a free order: 团长免单)
    by_system: bool = False  # a campaign's own refund (rebate, failed team, free order), not a buyer's request


class OrderHandedOver(OrderFacts):
    NAME = "order.handed_over"
    status: str


class OrderReceived(OrderFacts):
    NAME = "order.received"
    received_at: IsoDatetime


class OrderCompleted(OrderFacts):
    NAME = "order.completed"
