"""Campaign use cases every kind shares: the console's campaigns and offers, the member's
view of a campaign, entering a live room through a code, the price a member is quoted.

The kinds' packages (``flash_sale``, ``group_buy``, ``threshold``, ``live``) build on this
module and never the other way round: what a kind adds to a campaign's view is added above
them (``member_view``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.campaigns import ports, rules
from linli.campaigns.models import Campaign, CampaignEntry, Offer
from linli.catalog import service as catalog
from linli.community import service as community
from linli.db import insert_ignore
from linli.errors import Conflict, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.orders.rules import REFUNDABLE
from linli.referral import service as referral

MAX_OFFERS = 50

# Orders that count for a campaign (its sales, a threshold's progress, a pre-sale's list):
# paid and not cancelled.
COUNTED = tuple(sorted(REFUNDABLE))


def _campaign_of(s: Session, merchant_id: int, campaign_id: int) -> Campaign:
    c = s.get(Campaign, campaign_id)
    if c is None or c.merchant_id != merchant_id:
        raise NotFound("campaign.not_found", "No such campaign.")
    return c


def public_campaign(s: Session, campaign_id: int) -> Campaign:
    c = s.get(Campaign, campaign_id)
    if c is None or c.status == "cancelled":
        raise NotFound("campaign.not_found", "No such campaign.")
    identity.public_merchant(s, c.merchant_id)
    return c


# --- console ---------------------------------------------------------------------------------


def create_campaign(s: Session, who: Principal, merchant_id: int, spec: rules.CampaignSpec, *, description: str = "", kit_copy: str = "", promised_note: str | None = None, now: datetime) -> Campaign:
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    spec = rules.check_spec(spec)
    if len(description) > 2000 or len(kit_copy) > 2000:
        raise Invalid("campaign.text_too_long", "Description and copy are at most 2,000 characters each.")
    c = Campaign(
        merchant_id=merchant_id, kind=spec.kind, title=spec.title, description=description.strip(), kit_copy=kit_copy.strip(),
        starts_at=spec.starts_at, ends_at=spec.ends_at, team_size=spec.team_size, team_hours=spec.team_hours,
        team_variant=spec.team_variant, tiers=[list(t) for t in spec.tiers] if spec.tiers else None, miss_policy=spec.miss_policy,
        promised_date=spec.promised_date, promised_note=(promised_note or "").strip()[:100] or None,
        early_access_minutes=spec.early_access_minutes, created_by=who.member_id, created_at=now, status="active",
    )
    s.add(c)
    s.flush()
    return c


def set_early_access(s: Session, who: Principal, merchant_id: int, campaign_id: int, minutes: int, now: datetime) -> Campaign:
    """Change how many minutes before the start members with early access come in (until
    the campaign ends)."""
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    c = _campaign_of(s, merchant_id, campaign_id)
    if c.status != "active" or now >= c.ends_at:
        raise Conflict("campaign.closed", "This campaign has ended; it can no longer change.")
    c.early_access_minutes = rules.check_early_access(minutes)
    s.flush()
    return c


def early_minutes(s: Session, c: Campaign, member_id: int | None, now: datetime) -> int:
    """The head start ``member_id`` has on ``c``: its early-access minutes when we are in
    that window and the ``early_access`` port admits them, else 0 (the port is asked only
    inside the window)."""
    if member_id is None or c.status != "active" or not rules.in_early_window(c.starts_at, c.early_access_minutes, now):
        return 0
    return c.early_access_minutes if ports.has_early_access(s, c.merchant_id, member_id) else 0


@dataclass(frozen=True)
class OfferSpec:
    sku_id: int
    price: int
    quota: int | None = None
    limit_per_member: int | None = None
    community_id: int | None = None
    leader_id: int | None = None
    label: str = ""


def add_offer(s: Session, who: Principal, merchant_id: int, campaign_id: int, spec: OfferSpec, now: datetime) -> Offer:
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    c = _campaign_of(s, merchant_id, campaign_id)
    if c.status != "active" or now >= c.ends_at:
        raise Conflict("campaign.closed", "This campaign has ended; offers can no longer change.")
    if s.scalar(select(func.count()).select_from(Offer).where(Offer.campaign_id == c.id)) >= MAX_OFFERS:
        raise Invalid("campaign.too_many_offers", f"A campaign has at most {MAX_OFFERS} offers.")
    views = catalog.sku_views(s, [spec.sku_id])
    v = views.get(spec.sku_id)
    if v is None or v.merchant_id != merchant_id:
        raise Invalid("campaign.sku_unknown", "That item is not sold by this shop.", sku_id=spec.sku_id)
    if spec.price <= 0 or spec.price > v.price:
        raise Invalid("campaign.price_invalid", "A campaign price is positive and not above the list price.", list_price=v.price)
    if spec.quota is not None and spec.quota <= 0:
        raise Invalid("campaign.quota_invalid", "A quota is at least 1.")
    if c.kind == rules.Kind.flash and spec.quota is None:
        raise Invalid("campaign.quota_required", "A flash sale sells a fixed number of units: set the quota.")
    if spec.limit_per_member is not None and spec.limit_per_member <= 0:
        raise Invalid("campaign.limit_invalid", "A per-member limit is at least 1.")
    if spec.community_id is not None:
        cm = community.public_community(s, spec.community_id)
        if cm.merchant_id != merchant_id:
            raise Invalid("campaign.community_unknown", "That community is not one of this shop's.")
    if spec.leader_id is not None and not any(c2.merchant_id == merchant_id for c2 in community.communities_led_by(s, spec.leader_id)):
        raise Invalid("campaign.leader_unknown", "Only a leader of one of this shop's communities can be named.")
    if c.kind == rules.Kind.team and s.scalar(select(func.count()).select_from(Offer).where(Offer.campaign_id == c.id)):
        raise Invalid("campaign.team_one_offer", "A group-buy campaign sells one item at its team price.")
    label = " ".join(spec.label.split())[:40]
    o = Offer(
        campaign_id=c.id, merchant_id=merchant_id, sku_id=v.sku_id, product_id=v.product_id, label=label, price=spec.price,
        quota=spec.quota, limit_per_member=spec.limit_per_member, community_id=spec.community_id, leader_id=spec.leader_id, created_at=now,
    )
    s.add(o)
    s.flush()
    return o


def leader_of_code(s: Session, merchant_id: int, code: str) -> int:
    """The leader an offer's ``leader_code`` names (any of their codes at this shop)."""
    ic = referral.resolve_code(s, code)
    if ic.merchant_id != merchant_id or not any(c.merchant_id == merchant_id for c in community.communities_led_by(s, ic.member_id)):
        raise Invalid("campaign.leader_unknown", "That code is not a leader's code of this shop.")
    return ic.member_id


def list_campaigns(s: Session, who: Principal, merchant_id: int, kind: str | None = None, limit: int = 100) -> list[Campaign]:
    identity.require_permission(s, who, merchant_id, Permission.view)
    q = select(Campaign).where(Campaign.merchant_id == merchant_id)
    if kind:
        q = q.where(Campaign.kind == kind)
    return list(s.scalars(q.order_by(Campaign.starts_at.desc(), Campaign.id.desc()).limit(limit)))


def get_campaign(s: Session, who: Principal, merchant_id: int, campaign_id: int) -> Campaign:
    identity.require_permission(s, who, merchant_id, Permission.view)
    return _campaign_of(s, merchant_id, campaign_id)


def offers_of(s: Session, campaign_id: int) -> list[Offer]:
    return list(s.scalars(select(Offer).where(Offer.campaign_id == campaign_id).order_by(Offer.id)))


def public_campaigns(s: Session, merchant_id: int, now: datetime, limit: int = 50) -> list[Campaign]:
    """Campaigns a member can see in the shop: running or about to start."""
    return list(s.scalars(
        select(Campaign).where(Campaign.merchant_id == merchant_id, Campaign.status == "active", Campaign.ends_at > now)
        .order_by(Campaign.starts_at, Campaign.id).limit(limit)
    ))


# --- members ---------------------------------------------------------------------------------


def enter(s: Session, member_id: int, campaign_id: int, invite_code: str | None, now: datetime) -> CampaignEntry:
    """Record an entry into a live room. The first code a member came through stays theirs
    for this campaign (a later leader's link does not take the neighbour over)."""
    c = public_campaign(s, campaign_id)
    owner = None
    code = None
    if invite_code:
        ic = referral.resolve_code(s, invite_code)
        if ic.merchant_id != c.merchant_id:
            raise NotFound("invite.code_unknown", "This invite code does not exist or is no longer valid.")
        code, owner = ic.code, ic.member_id
    s.execute(insert_ignore(s, CampaignEntry, {"campaign_id": c.id, "merchant_id": c.merchant_id, "member_id": member_id, "invite_code": code, "code_owner_id": owner, "visits": 0, "first_at": now, "last_at": now}, ["campaign_id", "member_id"]))
    e = s.scalars(select(CampaignEntry).where(CampaignEntry.campaign_id == c.id, CampaignEntry.member_id == member_id).with_for_update()).one()
    e.visits += 1
    e.last_at = now
    if e.invite_code is None and code is not None:
        e.invite_code, e.code_owner_id = code, owner
    s.flush()
    if code is not None:
        # Coming in through a leader's link also binds the neighbour to them by the shop's
        # bind mode (seed 002: later orders, repeat purchases included, count for the
        # leader); a refused binding (self, cycle, protected) leaves the entry as it is.
        try:
            with s.begin_nested():
                referral.bind(s, member_id, code, now, merchant_id=c.merchant_id)
        except Conflict:
            pass
    return e


def entry_of(s: Session, campaign_id: int, member_id: int) -> CampaignEntry | None:
    return s.scalars(select(CampaignEntry).where(CampaignEntry.campaign_id == campaign_id, CampaignEntry.member_id == member_id)).first()


def buyer_community(s: Session, merchant_id: int, member_id: int | None) -> int | None:
    """The community a buyer belongs to for offers: their home community at this shop."""
    if member_id is None:
        return None
    home = community.home_community(s, member_id, merchant_id)
    return home.id if home else None


@dataclass
class OfferOut:
    offer: Offer
    product_name: str
    sku_name: str
    list_price: int
    left: int | None
    eligible: bool


@dataclass
class CampaignView:
    campaign: Campaign
    phase: str
    seconds_to_start: int
    seconds_to_end: int
    offers: list[OfferOut]
    entry_code: str | None = None
    community_id: int | None = None
    progress: dict | None = None  # a threshold's progress in the member's community (``member_view``)
    early_access: bool = False  # the member is in before the start (early access)
    extra: dict = field(default_factory=dict)


def campaign_view(s: Session, campaign_id: int, member_id: int | None, now: datetime) -> CampaignView:
    """A campaign as a member sees it, whatever its kind: prices, quota left, countdown
    (``member_view`` adds what the kind shows)."""
    c = public_campaign(s, campaign_id)
    entry = entry_of(s, c.id, member_id) if member_id else None
    cid = buyer_community(s, c.merchant_id, member_id)
    owner = entry.code_owner_id if entry else None
    offers = offers_of(s, c.id)
    views = catalog.sku_views(s, [o.sku_id for o in offers])
    out = []
    for o in offers:
        v = views.get(o.sku_id)
        ok = member_id is not None and rules.eligible(offer_view(o), cid, owner)
        out.append(OfferOut(o, v.product_name if v else "", v.sku_name if v else "", v.price if v else o.price, None if o.quota is None else max(o.quota - o.sold, 0), ok))
    early = early_minutes(s, c, member_id, now)
    ph = rules.phase(c.starts_at, c.ends_at, c.status, now, early_minutes=early)
    return CampaignView(
        c, ph.value, max(int((c.starts_at - now).total_seconds()), 0), max(int((c.ends_at - now).total_seconds()), 0), out,
        entry.invite_code if entry else None, cid, early_access=early > 0,
    )


def offer_view(o: Offer) -> rules.OfferView:
    return rules.OfferView(o.id, o.sku_id, o.price, o.quota, o.sold, o.limit_per_member, o.community_id, o.leader_id)


def quoted_price(s: Session, campaign_id: int | None, team_id: int | None, member_id: int, sku_id: int) -> int | None:
    """The unit price this member would get for ``sku_id`` in a campaign (or the campaign
    of ``team_id``), for showing at checkout; the order itself is priced by the campaign
    step. None when no open offer applies."""
    if team_id is not None:
        from linli.campaigns.models import Team

        team = s.get(Team, team_id)
        campaign_id = team.campaign_id if team else None
    if campaign_id is None:
        return None
    c = s.get(Campaign, campaign_id)
    if c is None:
        return None
    entry = entry_of(s, c.id, member_id)
    cid = buyer_community(s, c.merchant_id, member_id)
    owner = entry.code_owner_id if entry else None
    open_offers = [o for o in offers_of(s, c.id) if o.sku_id == sku_id and rules.eligible(offer_view(o), cid, owner) and (o.quota is None or o.sold < o.quota)]
    return min((o.price for o in open_offers), default=None)
