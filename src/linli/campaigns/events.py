"""The events campaigns emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``campaign.purchased`` v1: a campaign order was paid (from ``order.paid``), for the
  community features (no listener yet).
- ``team.succeeded`` v1: a group-buy team filled every seat in time.
- ``team.failed`` v1: a team was short at its deadline (its orders are refunded).
- ``campaign.closed`` v1: a campaign ended (``orders``: the paid orders counted). A
  community threshold adds the outcome per community and the refund totals; a pre-sale
  adds the promised date and the warehouse's purchase list; other kinds add nothing (the
  kind's keys are absent, not null).
"""

from __future__ import annotations

from datetime import date

from linli.events import EventPayload, IsoDatetime, PayloadPart


class CampaignPurchased(EventPayload):
    NAME = "campaign.purchased"
    campaign_id: int
    order_id: int
    member_id: int
    community_id: int | None
    team_id: int | None
    invite_code: str | None
    total_paid: int


class TeamFacts(EventPayload):
    """What both team events carry (a base: never emitted as such)."""

    team_id: int
    campaign_id: int
    opener_id: int
    size: int


class TeamSucceeded(TeamFacts):
    NAME = "team.succeeded"


class TeamFailed(TeamFacts):
    NAME = "team.failed"


class CommunityOutcome(PayloadPart):
    community_id: int | None
    orders: int
    tier: tuple[int, int] | None  # (orders, fen off per order) reached
    outcome: str  # rebate | cancelled | none
    refunded: int


class PurchaseUnits(PayloadPart):
    sku_id: int
    product_name: str
    sku_name: str
    qty: int
    orders: int


class CampaignClosed(EventPayload):
    NAME = "campaign.closed"
    campaign_id: int
    kind: str
    title: str
    closed_at: IsoDatetime | None
    orders: int
    # A community threshold's outcome:
    communities: tuple[CommunityOutcome, ...] | None = None
    rebated: int | None = None
    cancelled: int | None = None
    proceeded: int | None = None
    refunded: int | None = None
    # A pre-sale's promise and purchase list:
    promised_date: date | None = None
    promised_note: str | None = None
    units: tuple[PurchaseUnits, ...] | None = None
