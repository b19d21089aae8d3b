"""Incentives endpoints (API.md "Growth incentives"): referral programmes (console: create,
list with counts and cost, change, end) and a member's referrals with their milestones."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime, Field

from linli.incentives import desk, programmes, referrals, rules
from linli.incentives.rules import SETTINGS
from linli.schema import Id, Input, Output, setting_field
from linli.web.deps import DB, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["incentives"])
KINDS = "^(points|coupon|stored_value_bonus|gift)$"


class RewardIO(Input):
    kind: str = Field(pattern=KINDS)
    amount: int | None = Field(default=None, ge=0, le=100_000_000, description="points (points), or fen (stored_value_bonus)")
    template_id: Id | None = Field(default=None, description="a coupon template of the shop (coupon), or a gift template (gift)")
    sku_id: Id | None = Field(default=None, description="the gift SKU (gift): a staff-issued gift coupon template is made for it")


class MilestoneIO(Input):
    count: int = Field(ge=0, le=100_000, description="granted referrals of one inviter in the programme")
    inviter_reward: RewardIO
    invitee_reward: RewardIO | None = None


class ProgrammeIn(Input):
    name: str = Field(min_length=1, max_length=40)
    trigger: str = Field(default=rules.TRIGGER, max_length=24, description="first_received_order only: a sign-up, share, click or group join is refused (programme.rewards_signup)")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    min_paid: int = Field(ge=0, le=10**12, description="fen the invitee's first received order must have paid, net of refunds")
    window_days: int = setting_field(SETTINGS["window_days"])
    monthly_cap: int = setting_field(SETTINGS["monthly_cap"])
    inviter_reward: RewardIO | None = None
    invitee_reward: RewardIO | None = None
    milestones: list[MilestoneIO] = Field(default_factory=list, max_length=50)


class ProgrammePatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=40)
    ends_at: AwareDatetime | None = None
    monthly_cap: int | None = Field(default=None, ge=SETTINGS["monthly_cap"].lo, le=SETTINGS["monthly_cap"].hi)


class CountsOut(Output):
    pending: int
    granted: int
    voided: int


class ProgrammeOut(Output):
    id: int
    merchant_id: int
    name: str
    trigger: str
    status: str = Field(description="scheduled | active | ended")
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    min_paid: int
    window_days: int
    monthly_cap: int
    inviter_reward: RewardIO | None
    invitee_reward: RewardIO | None
    milestones: list[MilestoneIO]
    counts: CountsOut | None = None
    cost: int | None = Field(default=None, description="fen: points and bonus granted at face, coupons at their amount off or gift's price")


def _reward(r: RewardIO | None) -> rules.Reward | None:
    if r is None:
        return None
    return rules.Reward(rules.Kind(r.kind), r.amount or 0, r.template_id, r.sku_id)


def _reward_out(raw: dict | None) -> RewardIO | None:
    return None if raw is None else RewardIO(kind=raw["kind"], amount=raw.get("amount") or None, template_id=raw.get("template_id"), sku_id=raw.get("sku_id"))


def _out(p, now: datetime, st: programmes.Stats | None = None) -> ProgrammeOut:
    return ProgrammeOut(
        id=p.id, merchant_id=p.merchant_id, name=p.name, trigger=p.trigger, status=programmes.status(p, now), starts_at=p.starts_at, ends_at=p.ends_at, ended_at=p.ended_at,
        min_paid=p.min_paid, window_days=p.window_days, monthly_cap=p.monthly_cap, inviter_reward=_reward_out(p.inviter_reward), invitee_reward=_reward_out(p.invitee_reward),
        milestones=[MilestoneIO(count=m["count"], inviter_reward=_reward_out(m["inviter_reward"]), invitee_reward=_reward_out(m.get("invitee_reward"))) for m in p.milestones or []],
        counts=CountsOut(pending=st.pending, granted=st.granted, voided=st.voided) if st else None, cost=st.cost if st else None,
    )


@router.post("/merchants/{mid}/referral-programmes", status_code=201, response_model=ProgrammeOut, responses=PROBLEMS)
def create_programme(mid: Id, body: ProgrammeIn, s: DB, who: Who, now: Now) -> ProgrammeOut:
    terms = rules.Terms(
        name=body.name, trigger=body.trigger, starts_at=body.starts_at, ends_at=body.ends_at, min_paid=body.min_paid, window_days=body.window_days, monthly_cap=body.monthly_cap,
        inviter_reward=_reward(body.inviter_reward), invitee_reward=_reward(body.invitee_reward),
        milestones=tuple(rules.Milestone(m.count, _reward(m.inviter_reward), _reward(m.invitee_reward)) for m in body.milestones),
    )
    return _out(programmes.create(s, who, mid, terms, now), now)


@router.get("/merchants/{mid}/referral-programmes", response_model=list[ProgrammeOut], responses=PROBLEMS)
def list_programmes(mid: Id, s: DB, who: Who, now: Now) -> list[ProgrammeOut]:
    """The shop's programmes, newest first, each with its referrals by status and its cost."""
    return [_out(st.programme, now, st) for st in programmes.stats(s, who, mid)]


@router.patch("/merchants/{mid}/referral-programmes/{pid}", response_model=ProgrammeOut, responses=PROBLEMS)
def patch_programme(mid: Id, pid: Id, body: ProgrammePatch, s: DB, who: Who, now: Now) -> ProgrammeOut:
    """Rename it, move its end or change its monthly cap (its rewards and conditions stay)."""
    return _out(programmes.update(s, who, mid, pid, now, name=body.name, ends_at=body.ends_at, monthly_cap=body.monthly_cap), now)


@router.post("/merchants/{mid}/referral-programmes/{pid}/end", response_model=ProgrammeOut, responses=PROBLEMS)
def end_programme(mid: Id, pid: Id, s: DB, who: Who, now: Now) -> ProgrammeOut:
    """End it now; referrals already pending are still granted when their window closes."""
    return _out(programmes.end(s, who, mid, pid, now), now)


class GivenOut(Output):
    side: str = Field(description="inviter | invitee")
    milestone: int | None = Field(description="the milestone (friends count) this reward is for; null for the referral's own reward")
    kind: str
    asked: int = Field(description="points, fen of bonus, or 1 coupon")
    granted: int = Field(description="what the rewards domain gave (less than asked when the stored-value cap was near; 0 with a failure)")
    value: int = Field(description="its cost to the shop in fen")
    failure: str | None = Field(description="why nothing was given: coupon.sold_out | coupon.ended | coupon.inactive | stored_value.cap (less or nothing given: the card was at its cap)")


class DeskRowOut(Output):
    id: int
    inviter_id: int
    inviter: str = Field(description="the inviter's nickname and masked phone")
    invitee_id: int
    invitee: str = Field(description="the invitee's nickname and masked phone")
    order_id: int
    paid: int
    status: str = Field(description="pending | granted | voided")
    void_reason: str | None
    created_at: datetime
    granted_at: datetime | None
    voided_at: datetime | None
    cost: int = Field(description="fen: the value of every reward given for this referral")
    rewards: list[GivenOut]


class DeskOut(Output):
    programme_id: int
    referrals: list[DeskRowOut]
    next_before: int | None = Field(description="pass as before= for the next page; null on the last page")


@router.get("/merchants/{mid}/referral-programmes/{pid}/referrals", response_model=DeskOut, responses=PROBLEMS)
def programme_referrals(mid: Id, pid: Id, s: DB, who: Who, status: Annotated[str | None, Query(max_length=10)] = None, before: Annotated[Id | None, Query()] = None,
                        limit: Annotated[int, Query(ge=1, le=desk.PAGE_MAX)] = 50) -> DeskOut:
    """The referral desk: one programme's referrals, newest first, with the rewards given."""
    d = desk.desk(s, who, mid, pid, status=status, before=before, limit=limit)
    return DeskOut(programme_id=d.programme.id, next_before=d.next_before, referrals=[
        DeskRowOut(id=r.id, inviter_id=r.inviter_id, inviter=f"{r.inviter_name} {r.inviter_phone}", invitee_id=r.invitee_id, invitee=f"{r.invitee_name} {r.invitee_phone}",
                   order_id=r.order_id, paid=r.paid, status=r.status, void_reason=r.void_reason, created_at=r.created_at, granted_at=r.granted_at, voided_at=r.voided_at, cost=r.cost,
                   rewards=[GivenOut(**g.__dict__) for g in r.rewards]) for r in d.rows])


class ReferralOut(Output):
    id: int
    programme_id: int
    invitee: str = Field(description="the invitee's phone, masked (138****1234)")
    status: str = Field(description="pending | granted | voided")
    void_reason: str | None = Field(description="refunded | monthly_cap | clawed_back")
    reward: RewardIO | None = Field(description="the inviter's reward")
    paid: int
    created_at: datetime
    granted_at: datetime | None
    reward_failure: str | None = Field(default=None, description="why the inviter's reward was not given though granted: coupon.sold_out | coupon.ended | coupon.inactive | stored_value.cap (less or nothing given: the card was at its cap)")


class MilestoneProgressOut(Output):
    programme_id: int
    granted: int = Field(description="granted referrals of the caller in the programme")
    reached: list[int]
    next_count: int | None
    next_reward: RewardIO | None


class MyReferralsOut(Output):
    programmes: list[ProgrammeOut]
    referrals: list[ReferralOut]
    milestones: list[MilestoneProgressOut]


@router.get("/me/referrals", response_model=MyReferralsOut, responses=PROBLEMS)
def my_referrals(s: DB, who: Who, now: Now, merchant_id: Annotated[Id, Query()]) -> MyReferralsOut:
    m = referrals.mine(s, who.member_id, merchant_id, now)
    return MyReferralsOut(
        programmes=[_out(p, now) for p in m.programmes],
        referrals=[ReferralOut(id=r.id, programme_id=r.programme_id, invitee=r.invitee_masked, status=r.status, void_reason=r.void_reason, reward=_reward_out(programmes.stored(r.reward)),
                               paid=r.paid, created_at=r.created_at, granted_at=r.granted_at, reward_failure=r.reward_failure) for r in m.referrals],
        milestones=[MilestoneProgressOut(programme_id=g.programme.id, granted=g.granted, reached=g.reached, next_count=g.next.count if g.next else None,
                                         next_reward=_reward_out(programmes.stored(g.next.inviter_reward)) if g.next else None) for g in m.progress],
    )
