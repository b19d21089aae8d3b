"""The rules of referral reward programmes (RULES.md "Growth incentives", 双向激励): pure
functions and value objects, the clock passed in. No I/O.

A programme rewards the inviter and/or the invitee when the invitee's first received order
(paid ≥ ``min_paid``) comes within ``window_days`` of the binding, while the programme runs.
The reward waits (``pending``) until that order's after-sales window closes, then it is
``granted``; a refund that takes the order's net paid below the minimum while it waits
``voids`` it. Milestones count granted referrals only.

The trigger. The one thing a programme can reward is ``first_received_order``: a real, paid,
received sale. A programme that asks for a sign-up, a share, a click or joining a group
(``signup``, ``share``, ``click``, ``group_join``) is refused with ``programme.rewards_signup``
(RULES.md: never for a sign-up, a share, a click or joining a group; 《禁止传销条例》 and
WeChat's rules forbid paying for recruiting). The field exists so that the refusal is an
answer a merchant can read, not a silently missing option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from linli.errors import Invalid
from linli.knobs import Knob, Spec
from linli.timeutil import SHANGHAI

TRIGGER = "first_received_order"
FORBIDDEN_TRIGGERS = ("signup", "share", "click", "group_join")

# A programme's numbers: defaults and bounds written once (the API's fields and the
# console's form read them).
SETTINGS = Spec("programme", (
    Knob("window_days", 30, 1, 365, unit="days"),  # the first received order comes within this many days of the binding
    Knob("monthly_cap", 20, 1, 1000, unit="units"),  # rewarded referrals per inviter per Asia/Shanghai month
    Knob("min_paid", 1, 1, 100_000_000, unit="fen"),  # what the first order must have paid (net of refunds)
), code="programme.settings_invalid")

NAME_MAX = 40
MAX_MILESTONES = 10
MAX_MILESTONE_COUNT = 1000
MAX_POINTS = 1_000_000
MAX_BONUS = 500_000  # fen: never more than the stored-value cap
YEARS = (2000, 2100)  # a programme's dates fall in these years (a year 9999 overflows the clock's arithmetic)


class Kind(StrEnum):
    points = "points"
    coupon = "coupon"
    stored_value_bonus = "stored_value_bonus"
    gift = "gift"


@dataclass(frozen=True)
class Reward:
    """What one side gets: points (``amount`` points), a coupon of a template, a stored-value
    bonus (``amount`` fen) or a gift SKU (a coupon of a gift template for ``sku_id``)."""

    kind: Kind
    amount: int = 0
    template_id: int | None = None
    sku_id: int | None = None


@dataclass(frozen=True)
class Milestone:
    count: int  # granted referrals of one inviter in the programme
    inviter_reward: Reward
    invitee_reward: Reward | None = None  # to the invitee whose referral reached it


@dataclass(frozen=True)
class Terms:
    name: str
    trigger: str
    starts_at: datetime
    ends_at: datetime
    min_paid: int
    window_days: int
    monthly_cap: int
    inviter_reward: Reward | None
    invitee_reward: Reward | None
    milestones: tuple[Milestone, ...] = ()


def check_trigger(trigger: str) -> None:
    if trigger in FORBIDDEN_TRIGGERS:
        raise Invalid("programme.rewards_signup", "A programme rewards only a real, received first order: never a sign-up, a share, a click or joining a group.", field="trigger", trigger=trigger)
    if trigger != TRIGGER:
        raise Invalid("programme.trigger_invalid", "The only trigger is the invitee's first received order.", field="trigger")


def check_reward(r: Reward, field: str) -> None:
    if r.kind == Kind.points and not 1 <= r.amount <= MAX_POINTS:
        raise Invalid("programme.reward_amount_invalid", f"Points are 1 to {MAX_POINTS:,}.", field=field)
    if r.kind == Kind.stored_value_bonus and not 1 <= r.amount <= MAX_BONUS:
        raise Invalid("programme.reward_amount_invalid", "A stored-value bonus is 0.01 to 5,000 yuan.", field=field)
    if r.kind == Kind.coupon and r.template_id is None:
        raise Invalid("programme.reward_template_required", "Choose the coupon.", field=field)
    if r.kind == Kind.gift and r.sku_id is None and r.template_id is None:
        raise Invalid("programme.reward_gift_required", "Choose the gift.", field=field)


def check_date(at: datetime, field: str) -> None:
    """A programme date in ``YEARS``, checked on its own fields before any arithmetic or
    comparison with another offset could overflow."""
    if not YEARS[0] <= at.year <= YEARS[1] or not YEARS[0] <= at.astimezone(SHANGHAI).year <= YEARS[1]:
        raise Invalid("programme.dates_out_of_range", f"Dates fall in the years {YEARS[0]} to {YEARS[1]}.", field=field)


def check_terms(t: Terms, now: datetime) -> None:
    """Everything that can be said without the database; raises with a stable code."""
    check_trigger(t.trigger)
    if not t.name.strip() or len(t.name.strip()) > NAME_MAX:
        raise Invalid("programme.name_invalid", f"A programme has a name of 1 to {NAME_MAX} characters.", field="name")
    check_date(t.starts_at, "starts_at")
    check_date(t.ends_at, "ends_at")
    if t.ends_at <= t.starts_at:
        raise Invalid("programme.dates_invalid", "The end must be after the start.", field="ends_at")
    if t.ends_at <= now:
        raise Invalid("programme.dates_invalid", "The end must be in the future.", field="ends_at")
    SETTINGS.check({"window_days": t.window_days, "monthly_cap": t.monthly_cap, "min_paid": t.min_paid})
    if t.inviter_reward is None and t.invitee_reward is None and not t.milestones:
        raise Invalid("programme.reward_required", "Reward the inviter, the invitee or both.", field="inviter_reward")
    for r, field in ((t.inviter_reward, "inviter_reward"), (t.invitee_reward, "invitee_reward")):
        if r is not None:
            check_reward(r, field)
    check_milestones(t.milestones)


def check_milestones(milestones: Sequence[Milestone]) -> None:
    if len(milestones) > MAX_MILESTONES:
        raise Invalid("programme.milestones_invalid", f"At most {MAX_MILESTONES} milestones.", field="milestones")
    counts = [m.count for m in milestones]
    if any(not 1 <= c <= MAX_MILESTONE_COUNT for c in counts) or counts != sorted(set(counts)):
        raise Invalid("programme.milestones_invalid", "Milestones count 1 to 1000 friends, each more than the one before.", field="milestones")
    for i, m in enumerate(milestones):
        check_reward(m.inviter_reward, f"milestones.{i}.inviter_reward")
        if m.invitee_reward is not None:
            check_reward(m.invitee_reward, f"milestones.{i}.invitee_reward")


# --- referrals --------------------------------------------------------------------------------


def running(starts_at: datetime, ends_at: datetime, ended_at: datetime | None, at: datetime) -> bool:
    """Whether a programme runs at ``at`` (ended early by staff at ``ended_at``)."""
    end = min(ends_at, ended_at) if ended_at is not None else ends_at
    return starts_at <= at < end


def qualifies(bound_at: datetime, received_at: datetime, window_days: int, net_paid: int, min_paid: int) -> bool:
    """The first received order counts: received after the binding, within the window, and
    paid (net of refunds so far) at least the minimum."""
    return bound_at <= received_at <= bound_at + timedelta(days=window_days) and net_paid >= min_paid


def month_of(at: datetime) -> str:
    """The Asia/Shanghai month an instant falls in (the monthly cap's period), ``YYYY-MM``."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m")


def reached(granted: int, milestones: Sequence[Milestone]) -> list[Milestone]:
    """The milestones ``granted`` granted referrals reach."""
    return [m for m in milestones if m.count <= granted]


def next_milestone(granted: int, milestones: Sequence[Milestone]) -> Milestone | None:
    return next((m for m in milestones if m.count > granted), None)
