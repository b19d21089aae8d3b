"""Pricing steps that other domains fill in (campaigns; rewards: coupon, level discount,
points, stored value), and the queue that a flash-sale rush goes through (campaigns).

The orders domain calls these ports while pricing; it does not know who implements them
(the composition root fills them from the domains' ``wire``, ``linli/<domain>/domain.py``).
Until a domain fills a real step, the defaults pass through: no campaign price, no coupon,
no points, no stored value — and an order that names a campaign, a coupon, points or stored
value is refused with a clear code rather than silently priced without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from linli.composition import Port
from linli.errors import Invalid, NotFound

if TYPE_CHECKING:
    from linli.db import Database
    from linli.orders.service import NewOrder


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
    stored_value: int = 0


@dataclass
class CampaignTerms:
    """What a campaign decided for one order: its unit prices, the campaign and team the
    order belongs to, the code that attributes it, and what it took (released on cancel)."""

    campaign_id: int | None = None
    team_id: int | None = None
    prices: dict[int, int] = field(default_factory=dict)
    invite_code: str | None = None
    taken: list[tuple[int, int, bool]] = field(default_factory=list)  # (offer id, qty, through the Redis gate)
    team_opener: bool = False
    coupons_allowed: bool = False  # a campaign price excludes coupons unless the campaign allows them


class CampaignStep(Protocol):
    def quote(self, s: Session, campaign_id: int | None, team_id: int | None, member_id: int, sku_id: int) -> int | None:
        """The unit price a member would get for ``sku_id`` in the campaign (or the team's
        campaign), to show at checkout; None when no campaign price applies."""

    def apply(self, s: Session, req: PricingRequest) -> CampaignTerms:
        """Validate the campaign for this order and take its quota, limits and seat."""

    def attach(self, s: Session, order_id: int, member_id: int, terms: CampaignTerms, now: datetime) -> None:
        """Record what the order took, once the order row exists."""

    def release(self, s: Session, order_id: int) -> None:
        """The order was cancelled: give back what it took."""

    def holds(self, s: Session, order_id: int, campaign_id: int | None, team_id: int | None) -> bool:
        """Whether a paid order waits in ``grouping`` (a team, a community threshold)."""


@dataclass(frozen=True)
class Ticket:
    """The answer to an order accepted into a queue (a flash-sale rush)."""

    ticket: str
    status: str  # queued | created | refused
    order_id: int | None = None
    code: str | None = None
    detail: str | None = None


class OrderQueue(Protocol):
    def try_queue(self, s: Session, member_id: int, req: NewOrder, key: str | None, now: datetime) -> str | None:
        """Accept ``req`` into a queue and return its ticket, raise the refusal, or return
        None when the order is placed at once as usual."""

    async def try_queue_now(self, db: Database, member_id: int, req: NewOrder, key: str | None, now: datetime) -> str | None:
        """``try_queue`` on the event loop, without a thread, when it can decide so."""

    def ticket(self, member_id: int, raw: str) -> Ticket | None:
        """A queued order's answer, for the member who placed it."""


@dataclass(frozen=True)
class PricedLine:
    """A line as the rewards step sees it: after the campaign price, before any discount."""

    sku_id: int
    product_id: int
    category: str | None
    qty: int
    unit_price: int
    amount: int
    campaign_price: bool  # priced by a campaign


@dataclass
class RewardTerms:
    """What the rewards step decided: the coupon's fen off and the line weights to spread it
    over (None: every line by amount), the points redeemed (one point is one fen) and the
    stored value paid, all already taken from the member (given back on release).
    ``unit_prices``: SKU → the member's price (their level's discount on a line no campaign
    priced), which becomes that line's unit price; the coupon and its weights are already
    computed on those prices. ``level`` and ``privileges`` are the rewards step's own record
    (orders passes them back to ``attach``)."""

    coupon_off: int = 0
    coupon_weights: list[int] | None = None
    points: int = 0
    stored_value: int = 0
    unit_prices: dict[int, int] = field(default_factory=dict)
    level: str | None = None
    privileges: dict[str, Any] = field(default_factory=dict)


class RewardsStep(Protocol):
    def apply(self, s: Session, req: PricingRequest, lines: list[PricedLine], terms: CampaignTerms) -> RewardTerms:
        """Validate and take the coupon (locked), the points and the stored value."""

    def attach(self, s: Session, order_id: int, req: PricingRequest, rewards: RewardTerms) -> None:
        """Record what the order took, once the order row exists."""

    def release(self, s: Session, order_id: int, now: datetime) -> None:
        """The order was cancelled (unpaid, or fully refunded before receipt): give back
        the coupon if it was only locked, and whatever points and stored value have not
        come back yet."""


class NoCampaigns:
    def quote(self, s: Session, campaign_id: int | None, team_id: int | None, member_id: int, sku_id: int) -> int | None:
        return None

    def apply(self, s: Session, req: PricingRequest) -> CampaignTerms:
        if req.campaign_id is not None or req.team_id is not None:
            raise NotFound("campaign.not_found", "No such campaign.")
        return CampaignTerms()

    def attach(self, s: Session, order_id: int, member_id: int, terms: CampaignTerms, now: datetime) -> None:
        return None

    def release(self, s: Session, order_id: int) -> None:
        return None

    def holds(self, s: Session, order_id: int, campaign_id: int | None, team_id: int | None) -> bool:
        return False


class NoQueue:
    def try_queue(self, s: Session, member_id: int, req: NewOrder, key: str | None, now: datetime) -> str | None:
        return None

    async def try_queue_now(self, db: Database, member_id: int, req: NewOrder, key: str | None, now: datetime) -> str | None:
        return None

    def ticket(self, member_id: int, raw: str) -> Ticket | None:
        return None


class NoRewards:
    def apply(self, s: Session, req: PricingRequest, lines: list[PricedLine], terms: CampaignTerms) -> RewardTerms:
        if req.coupon_id is not None:
            raise NotFound("coupon.not_found", "No such coupon.")
        if req.points:
            raise Invalid("points.insufficient", "Not enough points.", available=0)
        if req.stored_value:
            raise Invalid("stored_value.insufficient", "Not enough stored value.", available=0)
        return RewardTerms()

    def attach(self, s: Session, order_id: int, req: PricingRequest, rewards: RewardTerms) -> None:
        return None

    def release(self, s: Session, order_id: int, now: datetime) -> None:
        return None


# Filled by the composition root from the domains' ``wire`` (campaigns fills campaign and queue, rewards fills rewards).
campaign: Port[CampaignStep] = Port("orders.campaign", NoCampaigns())
queue: Port[OrderQueue] = Port("orders.queue", NoQueue())
rewards: Port[RewardsStep] = Port("orders.rewards", NoRewards())
