"""Member levels (RULES.md "Member levels"): a merchant's levels and their privileges, each
member's growth and the level in force, and the privileges an order gets.

Growth value: what the member's received orders paid (stored value included, coupon and
points discounts not), less their refunds, over the last 365 days — one ``GrowthEntry`` per
received order, lowered by each refund. It is recomputed on those order events and by the
nightly job, which also catches entries leaving the 365-day window.

The level in force: an upgrade is immediate. A lower level takes effect only at the yearly
review, announced once (``rewards.level_downgrade_notice``) from 30 days before it.

The review date: the anniversary of the day the member first reached a level at this
merchant, every year after (``MemberLevel.review_at``; 29 February → 28 February). An upgrade
does not move it; a member who drops to no level starts again when they next reach one.

Changing a merchant's levels takes effect at the next tick of the nightly job for every
member of that merchant (their states are marked for recompute): upgrades at once,
downgrades at their review. A level removed by the change (fewer levels than a member's
rank) is a downgrade to the highest remaining level at once — the level no longer exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from linli import events
from linli.db import Database, insert_ignore
from linli.errors import Invalid
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.rewards import rules
from linli.rewards.events import LevelChanged, LevelDowngradeNotice
from linli.rewards.models import CouponTemplate, GrowthEntry, MemberLevel, MemberLevelDef
from linli.timeutil import local_day_start

STALE = datetime(2000, 1, 1, tzinfo=timezone.utc)  # ``updated_at`` of a state to recompute at the next tick
NIGHTLY_CHUNK = 500


@dataclass(frozen=True)
class LevelIn:
    name: str
    growth: int
    discount_bp: int = 0
    free_delivery: bool = False
    birthday_coupon_template_id: int | None = None


@dataclass(frozen=True)
class InForce:
    """A member's level at a merchant and its privileges, as an order records them."""

    rank: int
    name: str
    discount_bp: int
    free_delivery: bool
    birthday_coupon_template_id: int | None


@dataclass(frozen=True)
class Progress:
    name: str | None
    growth: int
    next_at: int | None  # growth from which the next level applies (None: at the top, or no levels)


def _rule(d: MemberLevelDef) -> rules.Level:
    return rules.Level(d.name, d.growth, d.discount_bp, d.free_delivery, d.birthday_coupon_template_id)


def level_defs(s: Session, merchant_id: int) -> list[MemberLevelDef]:
    return list(s.scalars(select(MemberLevelDef).where(MemberLevelDef.merchant_id == merchant_id).order_by(MemberLevelDef.rank)))


# --- the console -------------------------------------------------------------------------------


def get_levels(s: Session, who: Principal, merchant_id: int) -> list[MemberLevelDef]:
    identity.require_permission(s, who, merchant_id, Permission.view)
    return level_defs(s, merchant_id)


def set_levels(s: Session, who: Principal, merchant_id: int, levels: list[LevelIn], now: datetime) -> list[MemberLevelDef]:
    """Replace the merchant's levels (lowest first). Thresholds strictly increasing; a
    birthday coupon must be one of this merchant's templates."""
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    cleaned = [LevelIn(lv.name.strip(), lv.growth, lv.discount_bp, lv.free_delivery, lv.birthday_coupon_template_id) for lv in levels]
    rules.check_levels([rules.Level(lv.name, lv.growth, lv.discount_bp, lv.free_delivery, lv.birthday_coupon_template_id) for lv in cleaned])
    for i, lv in enumerate(cleaned):
        if lv.birthday_coupon_template_id is not None:
            check_template(s, merchant_id, lv.birthday_coupon_template_id, code="levels.template_unknown", index=i)
    s.execute(delete(MemberLevelDef).where(MemberLevelDef.merchant_id == merchant_id))
    s.add_all([MemberLevelDef(merchant_id=merchant_id, rank=i, name=lv.name, growth=lv.growth, discount_bp=lv.discount_bp, free_delivery=lv.free_delivery,
                              birthday_coupon_template_id=lv.birthday_coupon_template_id) for i, lv in enumerate(cleaned)])
    s.flush()
    # Everyone at this merchant is recomputed at the next tick of the nightly job.
    s.execute(update(MemberLevel).where(MemberLevel.merchant_id == merchant_id).values(updated_at=STALE))
    return level_defs(s, merchant_id)


def check_template(s: Session, merchant_id: int, template_id: int, *, code: str, **extra: object) -> CouponTemplate:
    t = s.get(CouponTemplate, template_id)
    if t is None or t.merchant_id != merchant_id:
        raise Invalid(code, "The coupon is not one of this shop's.", **extra)
    return t


# --- growth ------------------------------------------------------------------------------------


def record_receipt(s: Session, merchant_id: int, member_id: int, order_id: int, net_paid: int, received_at: datetime) -> bool:
    """A received order's growth (what it paid less what was refunded), once per order."""
    values = {"order_id": order_id, "merchant_id": merchant_id, "member_id": member_id, "amount": max(0, net_paid), "received_at": received_at}
    # RETURNING, not rowcount: PostgreSQL reports -1 for an ORM INSERT … ON CONFLICT DO NOTHING.
    return s.execute(insert_ignore(s, GrowthEntry, values, ["order_id"]).returning(GrowthEntry.order_id)).scalar() is not None


def lower_growth(s: Session, order_id: int, net_paid: int) -> GrowthEntry | None:
    """A refund of a received order: its growth becomes what is left paid (never raised, so
    refunds handled in any order, or again, end at the same amount). None if it changed
    nothing (the order was not received: its receipt will count what is left then)."""
    stmt = update(GrowthEntry).where(GrowthEntry.order_id == order_id, GrowthEntry.amount > max(0, net_paid)).values(amount=max(0, net_paid))
    if s.execute(stmt).rowcount != 1:
        return None
    return s.get(GrowthEntry, order_id)


def growth_of(s: Session, merchant_id: int, member_id: int, now: datetime) -> int:
    """The growth value: Σ growth of orders received in the 365 days up to ``now``."""
    q = select(func.coalesce(func.sum(GrowthEntry.amount), 0)).where(
        GrowthEntry.merchant_id == merchant_id, GrowthEntry.member_id == member_id, GrowthEntry.received_at > now - rules.GROWTH_WINDOW, GrowthEntry.received_at <= now,
    )
    return int(s.scalar(q))


# --- the level in force ------------------------------------------------------------------------


def _state(s: Session, merchant_id: int, member_id: int, now: datetime) -> MemberLevel:
    """The member's state, created if new, locked for the recompute."""
    s.execute(insert_ignore(s, MemberLevel, {"merchant_id": merchant_id, "member_id": member_id, "growth": 0, "rank": None, "review_at": rules.years_later(now),
                                             "notice_at": None, "updated_at": now}, ["merchant_id", "member_id"]))
    return s.get(MemberLevel, (merchant_id, member_id), with_for_update=True, populate_existing=True)


def _clamp(rank: int | None, count: int) -> int | None:
    if rank is None or rank < count:
        return rank
    return count - 1 if count else None


def recompute(s: Session, merchant_id: int, member_id: int, now: datetime) -> MemberLevel:
    """Growth and level as of ``now``: an upgrade at once, a downgrade at the review (which
    then moves a year on), the notice once per review from 30 days before."""
    defs = level_defs(s, merchant_id)
    levels = [_rule(d) for d in defs]
    st = _state(s, merchant_id, member_id, now)
    if st.updated_at is not None and st.updated_at > now:
        # A late or replayed event: judge as of the latest recompute, never earlier (growth
        # that has since left the 365-day window must not grant a stale upgrade).
        now = st.updated_at
    growth = growth_of(s, merchant_id, member_id, now)
    before = st.rank
    current = _clamp(st.rank, len(defs))
    change = rules.decide_level(current, growth, levels, now, st.review_at)
    new = change.level
    if current is None and new is not None:  # a first level: reviewed yearly from today
        st.review_at, st.notice_at = rules.years_later(now), None
    elif now >= st.review_at:  # the review: decided above; the next is a year on
        st.review_at, st.notice_at = rules.next_review(st.review_at, now), None
    elif change.notice and st.notice_at is None and new is not None:
        to = rules.level_for(growth, levels)
        events.emit(s, LevelDowngradeNotice(merchant_id=merchant_id, member_id=member_id, rank=new, level=defs[new].name, to_rank=to,
                                            to_level=None if to is None else defs[to].name, growth=growth, review_at=st.review_at), merchant_id=merchant_id, at=now)
        st.notice_at = now
    st.rank, st.growth, st.updated_at = new, growth, now
    if new != before:
        events.emit(s, LevelChanged(merchant_id=merchant_id, member_id=member_id, rank=new, level=None if new is None else defs[new].name, previous_rank=before,
                                    growth=growth, at=now), merchant_id=merchant_id, at=now)
    s.flush()
    return st


def in_force(s: Session, merchant_id: int, member_id: int) -> InForce | None:
    """The member's level at the merchant now (as last recomputed), None without one."""
    st = s.get(MemberLevel, (merchant_id, member_id))
    if st is None or st.rank is None:
        return None
    defs = level_defs(s, merchant_id)
    rank = _clamp(st.rank, len(defs))
    if rank is None:
        return None
    d = defs[rank]
    return InForce(rank, d.name, d.discount_bp, d.free_delivery, d.birthday_coupon_template_id)


def progress(s: Session, merchant_id: int, member_id: int, now: datetime) -> Progress:
    """The wallet's level: the level in force, the growth value now and where the next
    level starts."""
    defs = level_defs(s, merchant_id)
    lv = in_force(s, merchant_id, member_id)
    growth = growth_of(s, merchant_id, member_id, now)
    rank = -1 if lv is None else lv.rank
    nxt = next((d.growth for d in defs if d.rank > rank), None)
    return Progress(None if lv is None else lv.name, growth, nxt)


# --- the nightly job ---------------------------------------------------------------------------


def _due(s: Session, as_of: datetime, limit: int) -> list[tuple[int, int]]:
    """States not recomputed since the start of today (Shanghai), or whose review is due."""
    q = select(MemberLevel.merchant_id, MemberLevel.member_id).where(or_(MemberLevel.updated_at < local_day_start(as_of), MemberLevel.review_at <= as_of))
    return [(m, p) for m, p in s.execute(q.order_by(MemberLevel.merchant_id, MemberLevel.member_id).limit(limit))]


def run_nightly(db: Database, as_of: datetime) -> int:
    """Recompute every member once a day (growth leaving the window, reviews, notices); each
    member in their own transaction, so an interrupted run resumes where it stopped."""
    done = 0
    while True:
        with db.transaction() as s:
            due = _due(s, as_of, NIGHTLY_CHUNK)
        if not due:
            return done
        for merchant_id, member_id in due:
            with db.transaction() as s:
                recompute(s, merchant_id, member_id, as_of)
            done += 1
