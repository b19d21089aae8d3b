"""Campaign endpoints: the console's campaigns, offers and live board; a member's view of a
campaign and their entry into a live room."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query, Response
from pydantic import AliasChoices, AwareDatetime, Field

from linli.campaigns import rules, service
from linli.campaigns.live import board as live
from linli.campaigns.member_view import member_view
from linli.errors import Invalid
from linli.schema import Id, Input, Output
from linli.timeutil import SHANGHAI
from linli.web.deps import DB, MaybeWho, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["campaigns"])


class ItemIn(Input):
    """A product in the campaign at its campaign price, open to everyone in it."""

    sku_id: Id
    price: int = Field(ge=1, le=100_000_000)
    stock: int | None = Field(default=None, ge=1, le=10_000_000, description="Units at this price (a flash sale's stock); none for no cap")
    limit_per_member: int | None = Field(default=None, ge=1, le=999)
    label: str = Field(default="", max_length=40)


class LiveOfferIn(Input):
    """A live session's community offer: price and quota for one community and/or the
    neighbours who entered through a named leader's code."""

    sku_id: Id
    price: int = Field(ge=1, le=100_000_000)
    quota: int | None = Field(default=None, ge=1, le=10_000_000)
    limit_per_member: int | None = Field(default=None, ge=1, le=999)
    community_id: Id | None = None
    leader_code: str | None = Field(default=None, max_length=32, description="Any invite code of the leader (their personal code)")
    label: str = Field(default="", max_length=40)


class TierIn(Input):
    min_orders: int = Field(ge=2, le=100_000)
    discount: int = Field(ge=1, le=100_000_000, description="Fen off each order of a community that reaches the tier")


class CampaignIn(Input):
    """API.md's shape (``name``, ``items``, ``offers``, ``time_limit_hours``, ``leader_free``,
    ``tiers: [{min_orders, discount}]``, ``on_miss``, ``cutoff_at``, ``promised_at``); the
    console's own names (``title``, ``team_hours``, ``team_variant``, ``miss_policy``,
    ``promised_date``, tiers as ``[min, off]`` pairs) are accepted too."""

    kind: str = Field(pattern="^(live|group_buy|threshold|flash_sale|presale)$")
    name: str = Field(max_length=60, validation_alias=AliasChoices("name", "title"))
    description: str = Field(default="", max_length=2000)
    kit_copy: str = Field(default="", max_length=2000, description="Copy leaders forward to their groups")
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = Field(default=None, description="The end; for a pre-sale, cutoff_at if given")
    items: list[ItemIn] = Field(default_factory=list, max_length=50)
    offers: list[LiveOfferIn] = Field(default_factory=list, max_length=50)
    team_size: int | None = Field(default=None, ge=2, le=50)
    time_limit_hours: int | None = Field(default=None, ge=1, le=168, validation_alias=AliasChoices("time_limit_hours", "team_hours"))
    leader_free: bool | None = None
    team_variant: str | None = Field(default=None, pattern="^(standard|leader_free)$")
    tiers: list[TierIn | Annotated[list[int], Field(min_length=2, max_length=2)]] | None = Field(default=None, max_length=5)
    on_miss: str | None = Field(default=None, pattern="^(cancel|proceed)$", validation_alias=AliasChoices("on_miss", "miss_policy"))
    cutoff_at: AwareDatetime | None = None
    promised_at: AwareDatetime | None = None
    promised_date: date | None = None
    promised_note: str | None = Field(default=None, max_length=100)
    early_access_minutes: int = Field(default=0, description="Members with early access (社区推荐官) enter and buy this many minutes before the start (0 to 1440)")


class CampaignPatch(Input):
    early_access_minutes: int = Field(description="0 to 1440 minutes before the start")


class OfferIn(Input):
    sku_id: Id
    price: int = Field(ge=1, le=100_000_000)
    quota: int | None = Field(default=None, ge=1, le=10_000_000)
    limit_per_member: int | None = Field(default=None, ge=1, le=999)
    community_id: Id | None = None
    leader_id: Id | None = Field(default=None, description="Only buyers who entered through this leader's code")
    label: str = Field(default="", max_length=40)


class OfferOut(Output):
    id: int
    sku_id: int
    product_name: str
    sku_name: str
    label: str
    list_price: int
    price: int
    quota: int | None
    sold: int
    left: int | None
    limit_per_member: int | None
    community_id: int | None
    leader_id: int | None
    eligible: bool


class CampaignOut(Output):
    id: int
    merchant_id: int
    kind: str
    name: str
    title: str
    description: str
    status: str
    phase: str
    starts_at: datetime
    ends_at: datetime
    seconds_to_start: int
    seconds_to_end: int
    team_size: int | None
    team_hours: int | None
    team_variant: str | None
    tiers: list[list[int]] | None
    miss_policy: str | None
    cutoff_at: datetime | None
    promised_date: date | None
    promised_note: str | None
    offers: list[OfferOut]
    entry_code: str | None = None
    community_id: int | None = None
    progress: dict | None = None
    early_access_minutes: int = 0
    early_access: bool = Field(default=False, description="The caller is in before the start (early access)")


class EnterIn(Input):
    invite_code: str | None = Field(default=None, max_length=32)


class EntryOut(Output):
    campaign_id: int
    member_id: int
    invite_code: str | None
    visits: int


class BoardCode(Output):
    code: str
    owner_id: int | None
    nickname: str
    orders: int
    gmv: int
    entries: int


class BoardOut(Output):
    campaign_id: int
    phase: str
    orders: int
    paid_orders: int
    gmv: int
    entries: int
    offers: list[OfferOut]
    by_code: list[BoardCode]


def _offer_out(o: service.OfferOut) -> OfferOut:
    of = o.offer
    return OfferOut(
        id=of.id, sku_id=of.sku_id, product_name=o.product_name, sku_name=o.sku_name, label=of.label, list_price=o.list_price, price=of.price,
        quota=of.quota, sold=of.sold, left=o.left, limit_per_member=of.limit_per_member, community_id=of.community_id, leader_id=of.leader_id, eligible=o.eligible,
    )


def campaign_out(v: service.CampaignView) -> CampaignOut:
    c = v.campaign
    return CampaignOut(
        id=c.id, merchant_id=c.merchant_id, kind=c.kind, name=c.title, title=c.title, description=c.description, status=c.status, phase=v.phase,
        starts_at=c.starts_at, ends_at=c.ends_at, seconds_to_start=v.seconds_to_start, seconds_to_end=v.seconds_to_end,
        team_size=c.team_size, team_hours=c.team_hours, team_variant=c.team_variant, tiers=c.tiers, miss_policy=c.miss_policy,
        cutoff_at=c.ends_at if c.kind == rules.Kind.presale else None, promised_date=c.promised_date, promised_note=c.promised_note, offers=[_offer_out(o) for o in v.offers],
        entry_code=v.entry_code, community_id=v.community_id, progress=v.progress, early_access_minutes=c.early_access_minutes, early_access=v.early_access,
    )


@router.post("/merchants/{merchant_id}/campaigns", status_code=201, response_model=CampaignOut, responses=PROBLEMS)
def create_campaign(merchant_id: Id, body: CampaignIn, s: DB, who: Who, now: Now, response: Response) -> CampaignOut:
    """Create a campaign with its items and (a live session's) community offers, all or
    nothing."""
    ends_at = body.cutoff_at or body.ends_at
    if ends_at is None:
        raise Invalid("campaign.window_invalid", "Say when the campaign ends (a pre-sale: its cut-off).")
    if body.cutoff_at and body.ends_at and body.cutoff_at > body.ends_at:
        raise Invalid("campaign.window_invalid", "The cut-off cannot be after the end.")
    variant = body.team_variant or ({True: "leader_free", False: "standard"}.get(body.leader_free) if body.leader_free is not None else None)
    tiers = [(t.min_orders, t.discount) if isinstance(t, TierIn) else (t[0], t[1]) for t in body.tiers] if body.tiers is not None else None
    promised = body.promised_date or (body.promised_at.astimezone(SHANGHAI).date() if body.promised_at else None)
    spec = rules.CampaignSpec(
        kind=body.kind, title=body.name, starts_at=body.starts_at, ends_at=ends_at, team_size=body.team_size, team_hours=body.time_limit_hours,
        team_variant=variant, tiers=tiers, miss_policy=body.on_miss, promised_date=promised, early_access_minutes=body.early_access_minutes,
    )
    c = service.create_campaign(s, who, merchant_id, spec, description=body.description, kit_copy=body.kit_copy, promised_note=body.promised_note, now=now)
    for it in body.items:
        service.add_offer(s, who, merchant_id, c.id, service.OfferSpec(it.sku_id, it.price, it.stock, it.limit_per_member, label=it.label), now)
    for of in body.offers:
        leader_id = service.leader_of_code(s, merchant_id, of.leader_code) if of.leader_code else None
        service.add_offer(s, who, merchant_id, c.id, service.OfferSpec(of.sku_id, of.price, of.quota, of.limit_per_member, of.community_id, leader_id, of.label), now)
    response.headers["Location"] = f"/api/v1/campaigns/{c.id}"
    return campaign_out(member_view(s, c.id, None, now))


@router.get("/merchants/{merchant_id}/campaigns", response_model=list[CampaignOut], responses=PROBLEMS)
def list_campaigns(merchant_id: Id, s: DB, who: Who, now: Now, kind: str | None = Query(default=None, pattern="^(live|group_buy|threshold|flash_sale|presale)$")) -> list[CampaignOut]:
    return [campaign_out(member_view(s, c.id, None, now)) for c in service.list_campaigns(s, who, merchant_id, kind)]


@router.patch("/merchants/{merchant_id}/campaigns/{campaign_id}", response_model=CampaignOut, responses=PROBLEMS)
def update_campaign(merchant_id: Id, campaign_id: Id, body: CampaignPatch, s: DB, who: Who, now: Now) -> CampaignOut:
    """Change a campaign's settings that may change while it runs: its early access."""
    service.set_early_access(s, who, merchant_id, campaign_id, body.early_access_minutes, now)
    return campaign_out(member_view(s, campaign_id, None, now))


@router.post("/merchants/{merchant_id}/campaigns/{campaign_id}/offers", status_code=201, response_model=OfferOut, responses=PROBLEMS)
def add_offer(merchant_id: Id, campaign_id: Id, body: OfferIn, s: DB, who: Who, now: Now) -> OfferOut:
    spec = service.OfferSpec(body.sku_id, body.price, body.quota, body.limit_per_member, body.community_id, body.leader_id, body.label)
    o = service.add_offer(s, who, merchant_id, campaign_id, spec, now)
    v = member_view(s, campaign_id, None, now)
    return _offer_out(next(x for x in v.offers if x.offer.id == o.id))


@router.get("/merchants/{merchant_id}/campaigns/{campaign_id}/board", response_model=BoardOut, responses=PROBLEMS)
def live_board(merchant_id: Id, campaign_id: Id, s: DB, who: Who, now: Now) -> BoardOut:
    b = live.board(s, who, merchant_id, campaign_id, now)
    return BoardOut(
        campaign_id=b.campaign.id, phase=b.phase, orders=b.orders, paid_orders=b.paid_orders, gmv=b.gmv, entries=b.entries,
        offers=[_offer_out(o) for o in b.offers], by_code=[BoardCode(**r) for r in b.by_code],
    )


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses=PROBLEMS)
def get_campaign(campaign_id: Id, s: DB, who: MaybeWho, now: Now) -> CampaignOut:
    """The campaign as a member sees it: prices, quota left, countdown, and for a
    threshold their community's progress and next tier."""
    return campaign_out(member_view(s, campaign_id, who.member_id if who else None, now))


@router.post("/campaigns/{campaign_id}/enter", response_model=EntryOut, responses=PROBLEMS)
def enter(campaign_id: Id, body: EnterIn, s: DB, who: Who, now: Now) -> EntryOut:
    """Record the member's entry into a live room and the code they came through (that
    code then attributes their orders there)."""
    e = service.enter(s, who.member_id, campaign_id, body.invite_code, now)
    return EntryOut(campaign_id=e.campaign_id, member_id=e.member_id, invite_code=e.invite_code, visits=e.visits)
