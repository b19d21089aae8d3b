"""The pricing pipeline's rewards step (``orders.ports.rewards``): the member's level price
on the lines no campaign priced, then one merchant coupon (on those prices), then points (at
most half of what is left), then stored value, checked in ``apply`` and taken in ``attach``
(once the order row exists, so every ledger transfer is keyed by the order);
``release`` gives everything back when the order is cancelled unpaid. What the order used
is recorded in ``order_rewards``, which payment, cancel and refund handlers act on."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from linli.errors import Conflict
from linli.orders.ports import CampaignTerms, PricedLine, PricingRequest, RewardTerms
from linli.rewards import coupons, levels, points, rules, stored_value
from linli.rewards.models import OrderRewards


class RewardsPricing:
    def apply(self, s: Session, req: PricingRequest, lines: list[PricedLine], terms: CampaignTerms) -> RewardTerms:
        level = levels.in_force(s, req.merchant_id, req.member_id)
        unit_prices: dict[int, int] = {}
        privileges: dict[str, object] = {}
        if level is not None:
            # The level's privileges in force, recorded on the order. Free delivery is recorded
            # only: orders have no delivery fee (pickup and delivery are both free today).
            if level.discount_bp:
                unit_prices = {ln.sku_id: rules.level_unit_price(ln.unit_price, level.discount_bp) for ln in lines if not ln.campaign_price}
            level_off = sum((ln.unit_price - unit_prices[ln.sku_id]) * ln.qty for ln in lines if ln.sku_id in unit_prices)
            privileges = {"discount_bp": level.discount_bp, "free_delivery": level.free_delivery, "level_off": level_off}
            lines = [replace(ln, unit_price=unit_prices[ln.sku_id], amount=unit_prices[ln.sku_id] * ln.qty) if ln.sku_id in unit_prices else ln for ln in lines]
        subtotal = sum(ln.amount for ln in lines)
        off, weights = 0, None
        if req.coupon_id is not None:
            if req.campaign_id is not None and not terms.coupons_allowed:
                raise Conflict("coupon.not_with_campaign", "A campaign price cannot be combined with a coupon.")
            _, template = coupons.lock(s, req.member_id, req.merchant_id, req.coupon_id, req.now)
            scoped = [rules.ScopedLine(ln.sku_id, ln.product_id, ln.category, ln.amount, ln.unit_price) for ln in lines]
            off, weights = rules.discount(coupons.terms_of(template), scoped)
            if off <= 0:
                raise Conflict("coupon.not_applicable", "This order does not meet the coupon's terms.", threshold=template.threshold or None)
            off = rules.capped_for_payable(off, subtotal)
        if req.points:
            rules.check_points_redeem(req.points, subtotal - off, points.available(s, req.merchant_id, req.member_id))
        if req.stored_value:
            stored_value.check_spend(s, req.merchant_id, req.member_id, req.stored_value)
        return RewardTerms(coupon_off=off, coupon_weights=weights, points=req.points, stored_value=req.stored_value, unit_prices=unit_prices,
                           level=None if level is None else level.name, privileges=privileges)

    def attach(self, s: Session, order_id: int, req: PricingRequest, rewards: RewardTerms) -> None:
        if not (req.coupon_id or rewards.points or rewards.stored_value or rewards.level):
            return
        row = OrderRewards(order_id=order_id, merchant_id=req.merchant_id, member_id=req.member_id, coupon_id=req.coupon_id, coupon_off=rewards.coupon_off, points=rewards.points, state="held",
                           level=rewards.level, privileges=rewards.privileges)
        if req.coupon_id is not None:
            coupons.attach(s, req.coupon_id, order_id)
        row.points_lots = points.redeem(s, req.merchant_id, req.member_id, order_id, rewards.points, req.now)
        row.sv_principal, row.sv_bonus = stored_value.spend(s, req.merchant_id, req.member_id, order_id, rewards.stored_value, req.now)
        s.add(row)
        s.flush()

    def release(self, s: Session, order_id: int, now: datetime) -> None:
        row = s.get(OrderRewards, order_id, with_for_update=True)
        if row is None or row.state == "released":
            return
        coupons.release(s, order_id)
        return_share(s, row, row.points, row.sv_principal + row.sv_bonus, "release", now)
        row.state = "released"
        s.flush()


def return_share(s: Session, row: OrderRewards, points_target: int, sv_target: int, key: str, now: datetime) -> None:
    """Bring the order's returned points and stored value up to these cumulative targets
    (a refund returns pro rata, a cancel the rest); each step once per ``key`` (``release``
    or ``refund_case:<id>``), its ledger key naming the order and the cause."""
    n = points.give_back(s, row.merchant_id, row.member_id, f"points:return:{row.order_id}:{key}", row.points_lots, row.points_returned, points_target - row.points_returned, now)
    m = stored_value.give_back(s, row.merchant_id, row.member_id, f"sv:return:{row.order_id}:{key}", row.sv_principal, row.sv_bonus, row.sv_returned, sv_target - row.sv_returned, now)
    row.points_returned += n
    row.sv_returned += m
    if m:  # what comes back may pass the cap if the member topped up since paying
        s.flush()
        stored_value.settle_over_cap(s, row.merchant_id, row.member_id, now)
