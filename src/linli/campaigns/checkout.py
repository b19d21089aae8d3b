"""The pricing pipeline's campaign step (``orders.ports.campaign``): validates an order
placed in a campaign, takes its quota, per-member limits and team seat by compare-and-set
inside the order's transaction, and gives them back when the order is cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from linli.campaigns import rules, service
from linli.campaigns.flash_sale import gate as flash
from linli.campaigns.models import Campaign, CampaignOrderLine, Offer, OfferCounter, Team, TeamMember
from linli.campaigns.service import buyer_community, entry_of, offer_view, offers_of
from linli.db import is_unique_violation, take_counter
from linli.errors import Conflict, Invalid, NotFound
from linli.orders.ports import CampaignTerms, PricingRequest
from linli.referral import service as referral


def _campaign(s: Session, req: PricingRequest) -> tuple[Campaign, Team | None]:
    team = None
    campaign_id = req.campaign_id
    if req.team_id is not None:
        team = s.get(Team, req.team_id)
        if team is None or team.merchant_id != req.merchant_id:
            raise NotFound("team.not_found", "No such team.")
        if campaign_id is not None and campaign_id != team.campaign_id:
            raise Invalid("team.other_campaign", "This team belongs to another campaign.")
        campaign_id = team.campaign_id
    c = s.get(Campaign, campaign_id)
    if c is None or c.merchant_id != req.merchant_id or c.status == "cancelled":
        raise NotFound("campaign.not_found", "No such campaign.")
    if team is not None and c.kind != rules.Kind.team:
        raise Invalid("team.not_a_team_campaign", "This campaign has no teams.")
    return c, team


def _take_member_limit(s: Session, merchant_id: int, offer: rules.OfferView, member_id: int, qty: int) -> None:
    if offer.limit_per_member is None:
        return
    if not take_counter(s, OfferCounter, {"offer_id": offer.id, "member_id": member_id}, qty, offer.limit_per_member, merchant_id=merchant_id):
        raise Conflict("campaign.member_limit", f"You may buy at most {offer.limit_per_member} at this price.", limit=offer.limit_per_member, offer_id=offer.id)


def _take_quota(s: Session, offer: rules.OfferView, qty: int) -> bool:
    cond = [Offer.id == offer.id]
    if offer.quota is not None:
        cond.append(Offer.sold + qty <= Offer.quota)
    return s.execute(update(Offer).where(*cond).values(sold=Offer.sold + qty)).rowcount == 1


def _take_offer(s: Session, c: Campaign, offer: rules.OfferView, member_id: int, qty: int) -> bool:
    """(A flash sale with Redis) the gate first, so refused buyers never write to the
    database; then the member limit and the quota rows: the database compare-and-set is
    always the final guard. True when the gate was used."""
    gated = c.kind == rules.Kind.flash and flash.gate_take(s, offer, member_id, qty)
    try:
        _take_member_limit(s, c.merchant_id, offer, member_id, qty)
        if not _take_quota(s, offer, qty):
            raise Conflict("campaign.sold_out", "This offer is sold out.", offer_id=offer.id)
    except Conflict:
        if gated:
            flash.gate_undo(s, offer.id, member_id, qty)
        raise
    return gated


def _take_seat(s: Session, c: Campaign, team: Team | None, member_id: int, now: datetime) -> tuple[int, bool]:
    """Open a new team (the buyer is its opener) or take a seat in ``team``."""
    if team is None:
        t = Team(campaign_id=c.id, merchant_id=c.merchant_id, opener_id=member_id, size=c.team_size, status="forming", seats_taken=1, paid_count=0,
                 deadline=min(now + timedelta(hours=c.team_hours or rules.TEAM_HOURS_DEFAULT), c.ends_at), created_at=now)
        s.add(t)
        s.flush()
        return t.id, True
    if s.scalars(select(TeamMember.id).where(TeamMember.team_id == team.id, TeamMember.member_id == member_id)).first() is not None:
        raise Conflict("team.already_member", "You are already in this team.")
    moved = s.execute(
        update(Team).where(Team.id == team.id, Team.status == "forming", Team.seats_taken < Team.size, Team.deadline > now)
        .values(seats_taken=Team.seats_taken + 1)
    ).rowcount
    if moved != 1:
        s.refresh(team)
        if team.status == "failed" or team.deadline <= now:
            raise Conflict("team.closed", "This team has closed; open a new one.", status_now=team.status)
        raise Conflict("team.full", "This team is full; open a new team instead.", size=team.size)
    return team.id, False


class CampaignPricing:
    def quote(self, s: Session, campaign_id: int | None, team_id: int | None, member_id: int, sku_id: int) -> int | None:
        return service.quoted_price(s, campaign_id, team_id, member_id, sku_id)

    def apply(self, s: Session, req: PricingRequest) -> CampaignTerms:
        if req.campaign_id is None and req.team_id is None:
            return CampaignTerms()
        c, team = _campaign(s, req)
        # A member with early access may buy (and open or join a team) in the minutes before
        # the start; for everyone else the campaign has not started.
        early = service.early_minutes(s, c, req.member_id, req.now)
        if team is None or c.kind != rules.Kind.team:
            rules.require_open(c.starts_at, c.ends_at, c.status, req.now, c.kind, early_minutes=early)
        elif c.status != "active":
            raise Conflict("campaign.ended", "Orders for this campaign are closed.")
        elif req.now < c.starts_at:
            rules.require_open(c.starts_at, c.ends_at, c.status, req.now, c.kind, early_minutes=early)
        entry = entry_of(s, c.id, req.member_id)
        code = req.invite_code or (entry.invite_code if entry else None)
        # The code that decides eligibility: the one named with the order, else the entry's.
        owner = referral.code_owner(s, req.invite_code) if req.invite_code else (entry.code_owner_id if entry else None)
        community_id = buyer_community(s, c.merchant_id, req.member_id)
        offers = [offer_view(o) for o in offers_of(s, c.id)]
        terms = CampaignTerms(campaign_id=c.id, invite_code=code)
        if c.kind == rules.Kind.team and len(req.sku_qty) != 1:
            raise Invalid("team.one_item", "A team order is for the team's item only.")
        for sku_id in sorted(req.sku_qty):
            qty = req.sku_qty[sku_id]
            cands = rules.candidates(offers, sku_id, community_id, owner)
            chosen, gated, refusal = None, False, None
            for offer in cands:
                try:
                    if len(cands) == 1:
                        gated = _take_offer(s, c, offer, req.member_id, qty)
                    else:  # try the next offer if this one is gone: undo this one's part
                        with s.begin_nested():
                            gated = _take_offer(s, c, offer, req.member_id, qty)
                except Conflict as exc:
                    refusal = exc
                    continue
                chosen = offer
                break
            if chosen is None:
                raise refusal
            terms.taken.append((chosen.id, qty, gated))
            terms.prices[sku_id] = chosen.price
        if c.kind == rules.Kind.team:
            terms.team_id, terms.team_opener = _take_seat(s, c, team, req.member_id, req.now)
        return terms

    def attach(self, s: Session, order_id: int, member_id: int, terms: CampaignTerms, now: datetime) -> None:
        if terms.campaign_id is None:
            return
        merchant_id = s.get(Campaign, terms.campaign_id).merchant_id  # in the session since apply
        for offer_id, qty, gated in terms.taken:
            s.add(CampaignOrderLine(merchant_id=merchant_id, order_id=order_id, offer_id=offer_id, campaign_id=terms.campaign_id, member_id=member_id, qty=qty, gated=gated))
        s.flush()
        if terms.team_id is not None:
            try:
                with s.begin_nested():
                    s.add(TeamMember(merchant_id=merchant_id, team_id=terms.team_id, order_id=order_id, member_id=member_id, is_opener=terms.team_opener, paid=False, joined_at=now))
            except IntegrityError as exc:  # the same member joining twice at once
                if not is_unique_violation(exc):
                    raise
                raise Conflict("team.already_member", "You are already in this team.") from None

    def release(self, s: Session, order_id: int) -> None:
        lines = list(s.scalars(select(CampaignOrderLine).where(CampaignOrderLine.order_id == order_id, CampaignOrderLine.released.is_(False))))
        for ln in lines:
            if s.execute(update(CampaignOrderLine).where(CampaignOrderLine.id == ln.id, CampaignOrderLine.released.is_(False)).values(released=True)).rowcount != 1:
                continue
            s.execute(update(Offer).where(Offer.id == ln.offer_id).values(sold=Offer.sold - ln.qty))
            s.execute(update(OfferCounter).where(OfferCounter.offer_id == ln.offer_id, OfferCounter.member_id == ln.member_id, OfferCounter.qty >= ln.qty).values(qty=OfferCounter.qty - ln.qty))
            if ln.gated:
                flash.gate_give_back(s, ln.offer_id, ln.member_id, ln.qty)
        # The seat row first, locked (the payment handler also takes the seat before the
        # team): whether it was paid cannot change between reading it and freeing it.
        tm = s.scalars(select(TeamMember).where(TeamMember.order_id == order_id).with_for_update().execution_options(populate_existing=True)).first()
        if tm is not None:
            # A seat in a team still forming frees up for someone else; a team that ended
            # keeps its history.
            if s.execute(update(Team).where(Team.id == tm.team_id, Team.status == "forming").values(seats_taken=Team.seats_taken - 1, paid_count=Team.paid_count - (1 if tm.paid else 0))).rowcount == 1:
                s.execute(delete(TeamMember).where(TeamMember.id == tm.id))

    def holds(self, s: Session, order_id: int, campaign_id: int | None, team_id: int | None) -> bool:
        if team_id is not None:
            return True
        if campaign_id is None:
            return False
        c = s.get(Campaign, campaign_id)
        return c is not None and c.kind == rules.Kind.threshold
