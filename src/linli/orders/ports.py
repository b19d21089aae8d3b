"""Pricing steps that other domains fill in (campaigns, coupons, points).

The orders domain calls these ports while pricing; it does not know who implements them.
Until a domain registers a real step, the defaults pass through: no campaign price, no
coupon, no points — and an order that names a campaign, a coupon or points is refused
with a clear code rather than silently priced without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from linli.errors import Invalid, NotFound


@dataclass(frozen=True)
class PricingRequest:
    merchant_id: int
    member_id: int
    sku_qty: dict[int, int]
    campaign_id: int | None
    team_id: int | None
    coupon_id: int | None
    points: int
    invite_code: str | None
    now: datetime


class CampaignStep(Protocol):
    def unit_prices(self, s: Session, req: PricingRequest) -> dict[int, int]: ...


class CouponStep(Protocol):
    def discount(self, s: Session, req: PricingRequest, subtotal: int) -> int: ...


class PointsStep(Protocol):
    def redeem(self, s: Session, req: PricingRequest) -> int: ...


class NoCampaigns:
    def unit_prices(self, s: Session, req: PricingRequest) -> dict[int, int]:
        if req.campaign_id is not None or req.team_id is not None:
            raise NotFound("campaign.not_found", "No such campaign.")
        return {}


class NoCoupons:
    def discount(self, s: Session, req: PricingRequest, subtotal: int) -> int:
        if req.coupon_id is not None:
            raise NotFound("coupon.not_found", "No such coupon.")
        return 0


class NoPoints:
    def redeem(self, s: Session, req: PricingRequest) -> int:
        if req.points:
            raise Invalid("points.insufficient", "Not enough points.", available=0)
        return 0


campaign: CampaignStep = NoCampaigns()
coupons: CouponStep = NoCoupons()
points: PointsStep = NoPoints()
