"""Pricing as a pure pipeline: base price → campaign price (or, on a line no campaign
priced, the member's level price) → one coupon → points → stored value → what the payment
gateway collects. Integer fen throughout.

Order-level discounts (coupon, points) are spread over lines in proportion to the line
amounts with ``allocate_proportionally`` so that per-line ``paid`` sums exactly to the
order's total. Stored value is a means of payment, not a discount: it counts as paid on the
line (the commission base) and only lowers what the gateway collects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from linli.errors import Invalid
from linli.money import allocate_proportionally

POINTS_PER_YUAN = 100  # 100 points = 1 元 = 100 fen, so one point is one fen
POINTS_MAX_SHARE_BP = 5000  # points pay at most 50% of the order


@dataclass(frozen=True)
class LineIn:
    sku_id: int
    qty: int
    base_price: int  # list unit price, fen
    campaign_price: int | None = None  # unit price set by a campaign step
    member_price: int | None = None  # unit price set by the rewards step (the member's level), on a line no campaign priced


@dataclass(frozen=True)
class LineOut:
    sku_id: int
    qty: int
    base_price: int
    unit_price: int
    amount: int  # unit_price × qty
    coupon: int
    points: int
    paid: int  # amount − coupon − points (stored value included)


@dataclass(frozen=True)
class Quote:
    lines: list[LineOut]
    subtotal: int  # Σ amount
    coupon: int
    points_fen: int
    stored_value: int
    total_paid: int  # Σ line paid
    payable: int  # what the gateway collects = total_paid − stored_value
    notes: list[str] = field(default_factory=list)


def price(lines: list[LineIn], *, coupon_off: int = 0, coupon_weights: list[int] | None = None, points_fen: int = 0, stored_value: int = 0) -> Quote:
    """``coupon_weights``: the lines the coupon applies to (a scoped coupon weighs the lines
    outside its scope 0); by default every line by its amount. Discounts never leave less
    than 1 fen to pay; stored value may pay all the rest."""
    if not lines:
        raise Invalid("order.empty", "An order needs at least one item.")
    for v, name in ((coupon_off, "coupon"), (points_fen, "points"), (stored_value, "stored value")):
        if v < 0:
            raise Invalid("pricing.negative", f"{name} cannot be negative.")
    units = [ln.campaign_price if ln.campaign_price is not None else ln.member_price if ln.member_price is not None else ln.base_price for ln in lines]
    amounts = [u * ln.qty for u, ln in zip(units, lines)]
    subtotal = sum(amounts)
    weights = amounts if coupon_weights is None else coupon_weights
    if len(weights) != len(amounts) or any(w < 0 for w in weights) or (coupon_off and not sum(weights)):
        raise Invalid("pricing.coupon_weights", "A coupon must apply to some lines of the order.")
    coupon = max(0, min(coupon_off, subtotal - 1, sum(min(w, a) for w, a in zip(weights, amounts))))
    after_coupon = subtotal - coupon
    points_cap = after_coupon * POINTS_MAX_SHARE_BP // 10_000
    if points_fen > points_cap:
        raise Invalid("pricing.points_over_cap", f"Points may pay at most 50% of the order ({points_cap} fen here).", max_points=points_cap)
    coupon_parts = _spread(coupon, weights, amounts)
    remaining = [a - c for a, c in zip(amounts, coupon_parts)]
    points_parts = allocate_proportionally(points_fen, remaining)
    out = [
        LineOut(ln.sku_id, ln.qty, ln.base_price, u, a, c, p, a - c - p)
        for ln, u, a, c, p in zip(lines, units, amounts, coupon_parts, points_parts)
    ]
    total_paid = sum(o.paid for o in out)
    if stored_value > total_paid:
        raise Invalid("pricing.stored_value_over_total", "Stored value cannot exceed the amount due.")
    return Quote(out, subtotal, coupon, points_fen, stored_value, total_paid, total_paid - stored_value)


def _spread(total: int, weights: list[int], caps: list[int]) -> list[int]:
    """``allocate_proportionally`` by ``weights``, no part above its line's amount (the
    excess of a capped line goes to the other weighted lines, again by weight)."""
    parts = [0] * len(weights)
    live = [i for i, w in enumerate(weights) if w > 0]
    left = total
    while left and live:
        share = allocate_proportionally(left, [weights[i] for i in live])
        for i, x in zip(live, share):
            parts[i] += x
        over = sum(max(0, parts[i] - caps[i]) for i in live)
        for i in live:
            parts[i] = min(parts[i], caps[i])
        live = [i for i in live if parts[i] < caps[i]]
        left = over
    return parts
