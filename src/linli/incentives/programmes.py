"""Programme use cases (the console): create one (its terms checked by ``rules.check_terms``,
its coupons and gift against the shop's own), change its name, end date or monthly cap, end
it now, and the list with each programme's referral counts and cost. Staff need
``manage_campaigns`` to write (like coupons) and ``view`` to read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.catalog import service as catalog
from linli.errors import Conflict, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.incentives import rules
from linli.incentives.models import ProgrammeReferral, ProgrammeReward, ReferralProgramme
from linli.rewards import coupons, levels

GIFT_VALID_DAYS = 30  # a gift coupon's validity after it is granted


@dataclass(frozen=True)
class Stats:
    programme: ReferralProgramme
    pending: int
    granted: int
    voided: int
    cost: int  # fen: Σ value of the rewards given


def reward_of(raw: dict[str, Any] | None) -> rules.Reward | None:
    if raw is None:
        return None
    return rules.Reward(rules.Kind(raw["kind"]), raw.get("amount") or 0, raw.get("template_id"), raw.get("sku_id"))


def milestones_of(p: ReferralProgramme) -> list[rules.Milestone]:
    return [rules.Milestone(m["count"], reward_of(m["inviter_reward"]), reward_of(m.get("invitee_reward"))) for m in p.milestones or []]


def stored(r: rules.Reward | None) -> dict[str, Any] | None:
    return None if r is None else {"kind": r.kind.value, "amount": r.amount, "template_id": r.template_id, "sku_id": r.sku_id}


def _resolve(s: Session, who: Principal, merchant_id: int, r: rules.Reward | None, field: str, now: datetime) -> rules.Reward | None:
    """The reward checked against the shop: a coupon is one of its templates; a gift is one
    of its SKUs (a gift template is made for it, staff-issued only) or its gift template."""
    if r is None:
        return None
    if r.kind == rules.Kind.coupon:
        _usable(levels.check_template(s, merchant_id, r.template_id, code="programme.reward_template_unknown", field=field), field, now)
        return rules.Reward(r.kind, 0, r.template_id)
    if r.kind == rules.Kind.gift:
        if r.template_id is not None:
            t = _usable(levels.check_template(s, merchant_id, r.template_id, code="programme.reward_template_unknown", field=field), field, now)
            if t.kind != "gift" or t.gift_sku_id is None:
                raise Invalid("programme.reward_template_unknown", "A gift reward names a gift coupon.", field=field)
            return rules.Reward(r.kind, 0, t.id, t.gift_sku_id)
        sku = catalog.sku_views(s, [r.sku_id]).get(r.sku_id)
        if sku is None or sku.merchant_id != merchant_id:
            raise Invalid("programme.reward_sku_unknown", "The gift is not a product of this shop.", field=field)
        name = f"{sku.product_name} {sku.sku_name}"[: 40 - 3]
        t = coupons.create_template(s, who, merchant_id, coupons.TemplateIn(f"赠品·{name}", "gift", total=coupons.MAX_TOTAL, per_member=coupons.MAX_PER_MEMBER, gift_sku_id=sku.sku_id,
                                                                          valid_days=GIFT_VALID_DAYS, claimable=False), now)
        return rules.Reward(r.kind, 0, t.id, sku.sku_id)
    return rules.Reward(r.kind, r.amount)


def _usable(t, field: str, now: datetime):
    """A coupon that can still be given: not deactivated, not ended, not sold out (one that
    runs out later is recorded as a failed grant, shown on the sharer's page)."""
    if not t.active or (t.valid_to is not None and t.valid_to <= now) or t.issued >= t.total:
        raise Invalid("programme.reward_template_unavailable", "This coupon can no longer be given (deactivated, ended or all given).", field=field)
    return t


def create(s: Session, who: Principal, merchant_id: int, t: rules.Terms, now: datetime) -> ReferralProgramme:
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    rules.check_terms(t, now)
    inviter = _resolve(s, who, merchant_id, t.inviter_reward, "inviter_reward", now)
    invitee = _resolve(s, who, merchant_id, t.invitee_reward, "invitee_reward", now)
    stones = [{"count": m.count, "inviter_reward": stored(_resolve(s, who, merchant_id, m.inviter_reward, f"milestones.{i}.inviter_reward", now)),
               "invitee_reward": stored(_resolve(s, who, merchant_id, m.invitee_reward, f"milestones.{i}.invitee_reward", now))} for i, m in enumerate(t.milestones)]
    p = ReferralProgramme(merchant_id=merchant_id, name=t.name.strip(), trigger=t.trigger, starts_at=t.starts_at, ends_at=t.ends_at, min_paid=t.min_paid, window_days=t.window_days,
                          monthly_cap=t.monthly_cap, inviter_reward=stored(inviter), invitee_reward=stored(invitee), milestones=stones, created_at=now)
    s.add(p)
    s.flush()
    return p


def programme_of(s: Session, merchant_id: int, programme_id: int) -> ReferralProgramme:
    p = s.get(ReferralProgramme, programme_id)
    if p is None or p.merchant_id != merchant_id:
        raise NotFound("programme.not_found", "No such programme.")
    return p


def update(s: Session, who: Principal, merchant_id: int, programme_id: int, now: datetime, *, name: str | None = None, ends_at: datetime | None = None,
           monthly_cap: int | None = None) -> ReferralProgramme:
    """Rename it, move its end, change its cap; its rewards and conditions stay as they were
    (referrals already pending were promised them)."""
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    p = programme_of(s, merchant_id, programme_id)
    if status(p, now) == "ended":  # ended early, or on its own last day: a new end date does not revive it
        raise Conflict("programme.ended", "This programme has ended.")
    if name is not None and (not name.strip() or len(name.strip()) > rules.NAME_MAX):
        raise Invalid("programme.name_invalid", f"A programme has a name of 1 to {rules.NAME_MAX} characters.", field="name")
    if ends_at is not None:
        rules.check_date(ends_at, "ends_at")
    if ends_at is not None and (ends_at <= p.starts_at or ends_at <= now):
        raise Invalid("programme.dates_invalid", "The end must be after the start and in the future.", field="ends_at")
    if monthly_cap is not None:
        rules.SETTINGS.check({"monthly_cap": monthly_cap})
    p.name = name.strip() if name is not None else p.name
    p.ends_at = ends_at or p.ends_at
    p.monthly_cap = monthly_cap if monthly_cap is not None else p.monthly_cap
    s.flush()
    return p


def end(s: Session, who: Principal, merchant_id: int, programme_id: int, now: datetime) -> ReferralProgramme:
    """End it now: orders received from now on earn nothing; referrals already pending are
    still granted when their window closes. Ending twice is the same end."""
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    p = programme_of(s, merchant_id, programme_id)
    if p.ended_at is None:
        p.ended_at = min(now, p.ends_at)
        s.flush()
    return p


def status(p: ReferralProgramme, now: datetime) -> str:
    if p.ended_at is not None or p.ends_at <= now:
        return "ended"
    return "scheduled" if p.starts_at > now else "active"


def stats(s: Session, who: Principal, merchant_id: int) -> list[Stats]:
    identity.require_permission(s, who, merchant_id, Permission.view)
    progs = list(s.scalars(select(ReferralProgramme).where(ReferralProgramme.merchant_id == merchant_id).order_by(ReferralProgramme.id.desc())))
    counts: dict[tuple[int, str], int] = {}
    for pid, st, n in s.execute(select(ProgrammeReferral.programme_id, ProgrammeReferral.status, func.count()).where(ProgrammeReferral.merchant_id == merchant_id)
                                .group_by(ProgrammeReferral.programme_id, ProgrammeReferral.status)):
        counts[(pid, st)] = n
    cost = dict(s.execute(select(ProgrammeReward.programme_id, func.sum(ProgrammeReward.value)).where(ProgrammeReward.merchant_id == merchant_id).group_by(ProgrammeReward.programme_id)).all())
    return [Stats(p, counts.get((p.id, "pending"), 0), counts.get((p.id, "granted"), 0), counts.get((p.id, "voided"), 0), int(cost.get(p.id) or 0)) for p in progs]


def running(s: Session, merchant_id: int, at: datetime) -> list[ReferralProgramme]:
    """The shop's programmes running at ``at`` (public: the invite landing shows them)."""
    q = select(ReferralProgramme).where(ReferralProgramme.merchant_id == merchant_id, ReferralProgramme.starts_at <= at, ReferralProgramme.ends_at > at)
    return [p for p in s.scalars(q.order_by(ReferralProgramme.id)) if rules.running(p.starts_at, p.ends_at, p.ended_at, at)]
