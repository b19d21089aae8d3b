"""The rules of points, coupons, stored value and member levels (RULES.md): pure functions
on integer fen and points, the clock passed in. No I/O.

Points: 100 points = 1 元 = 100 fen, so a point is worth one fen. Earned per line on what
the line paid (floor), pending until the after-sales window ends, each grant a lot that
expires at the end of the year after it was earned (Asia/Shanghai); spends take lots
oldest-expiry first.

Coupons: one merchant coupon per order; the discount is computed on the lines in the
template's scope and never leaves the order below 1 fen payable.

Stored value: principal and bonus are separate; a spend takes principal first; refunding
principal forfeits the bonus in the same proportion; at most 500,000 fen held per merchant.

Levels: by growth (received, non-refunded spend over a rolling 365 days); an upgrade is
immediate, a downgrade waits for the yearly review and is announced 30 days before.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from linli.errors import Invalid
from linli.knobs import Knob, Spec
from linli.money import BP_WHOLE, apply_bp_floor
from linli.timeutil import SHANGHAI

# Per-merchant reward settings (RULES.md defaults): the one place their defaults and bounds
# are written; the table, the API and ``rewards.settings.put`` read them.
SETTINGS = Spec("rewards", (
    Knob("points_per_yuan", 1, 0, 10, unit="units"),  # points earned per whole 元 paid; 0 turns earning off
    Knob("points_expiry_years", 1, 0, 5, unit="units"),  # lots expire at the end of the year that many years on; 0 = never
), code="rewards.settings_invalid")

# --- points ---------------------------------------------------------------------------------

POINTS_MAX_SHARE_BP = 5000  # points pay at most 50% of an order's payable
EXPIRY_REMINDER = timedelta(days=30)


def points_for_paid(paid_fen: int, points_per_yuan: int = 1) -> int:
    """Points a line earns on what it paid: floor(元 paid) × rate."""
    if paid_fen <= 0 or points_per_yuan <= 0:
        return 0
    return paid_fen // 100 * points_per_yuan


def points_to_reverse(earned: int, line_paid: int, refunded_before: int, refund: int) -> int:
    """Points a line refund takes back: the earned points of the line in proportion to the
    refunded amount, floored cumulatively, so refunding the whole line in parts reverses
    exactly what it earned (no fen of rounding is lost or reversed twice)."""
    if earned <= 0 or line_paid <= 0:
        return 0
    after = min(refunded_before + refund, line_paid)
    before = min(refunded_before, line_paid)
    return earned * after // line_paid - earned * before // line_paid


def points_expire_at(earned_at: datetime, years_after: int = 1) -> datetime | None:
    """The instant a lot earned at ``earned_at`` expires: the end of 31 December of the year
    after (Shanghai days), i.e. the start of the next year. ``years_after=0`` means never."""
    if years_after <= 0:
        return None
    year = earned_at.astimezone(SHANGHAI).year + years_after + 1
    return datetime(year, 1, 1, tzinfo=SHANGHAI).astimezone(earned_at.tzinfo)


def max_points_for(payable_after_coupon: int, balance: int) -> int:
    """The most points an order may redeem: half its payable, never more than the balance
    (a negative balance, after a reversal, redeems nothing)."""
    return max(0, min(balance, payable_after_coupon * POINTS_MAX_SHARE_BP // BP_WHOLE))


def check_points_redeem(points: int, payable_after_coupon: int, balance: int) -> None:
    if points < 0:
        raise Invalid("points.invalid", "Points cannot be negative.")
    if points > balance:
        raise Invalid("points.insufficient", "Not enough points.", available=max(balance, 0))
    cap = max_points_for(payable_after_coupon, balance)
    if points > cap:
        raise Invalid("points.over_cap", f"Points may pay at most 50% of the order ({cap} points here).", max_points=cap)


@dataclass(frozen=True)
class Lot:
    id: int
    remaining: int
    expires_at: datetime | None


def take_from_lots(lots: Iterable[Lot], amount: int) -> list[tuple[int, int]]:
    """(lot id, points) to take ``amount`` from, oldest expiry first (never-expiring last,
    then by id). Raises if the lots hold too little."""
    order = sorted((lot for lot in lots if lot.remaining > 0), key=lambda lot: (lot.expires_at is None, lot.expires_at or datetime.max.replace(tzinfo=SHANGHAI), lot.id))
    out, left = [], amount
    for lot in order:
        if left == 0:
            break
        take = min(lot.remaining, left)
        out.append((lot.id, take))
        left -= take
    if left:
        raise Invalid("points.insufficient", "Not enough points.", available=amount - left)
    return out


def net_debts(lots: Iterable[Lot]) -> list[tuple[int, int, int]]:
    """(from lot, to lot, points): how a member's available lots with points pay off the
    lots a reversal left negative (a debt), the soonest-expiring points first, the oldest
    debt first. Moving points between available lots changes no balance, only which lot
    holds them, so later earnings cover a debt before they can be spent or expire."""
    lots = list(lots)
    key = lambda lot: (lot.expires_at is None, lot.expires_at or datetime.max.replace(tzinfo=SHANGHAI), lot.id)  # noqa: E731
    credits = [[lot.id, lot.remaining] for lot in sorted((x for x in lots if x.remaining > 0), key=key)]
    debts = [[lot.id, -lot.remaining] for lot in sorted((x for x in lots if x.remaining < 0), key=lambda x: x.id)]
    out = []
    for debt in debts:
        for credit in credits:
            if debt[1] == 0:
                break
            n = min(debt[1], credit[1])
            if n:
                out.append((credit[0], debt[0], n))
                credit[1] -= n
                debt[1] -= n
    return out


def expiring_groups(lots: Iterable[tuple[int, int, datetime]]) -> list[tuple[datetime, list[int], int]]:
    """(expires_at, lot ids, points) of (lot id, remaining, expires_at) lots, one reminder
    per expiry instant, soonest first."""
    groups: dict[datetime, tuple[list[int], list[int]]] = {}
    for lot_id, remaining, at in lots:
        ids, pts = groups.setdefault(at, ([], []))
        ids.append(lot_id)
        pts.append(remaining)
    return [(at, ids, sum(pts)) for at, (ids, pts) in sorted(groups.items())]


# --- coupons --------------------------------------------------------------------------------


class Kind(StrEnum):
    fixed = "fixed"  # amount fen off
    threshold = "threshold"  # 满 threshold 减 amount
    percent = "percent"  # percent_bp off, at most cap fen
    gift = "gift"  # one gift SKU free


@dataclass(frozen=True)
class CouponTerms:
    kind: Kind
    amount: int = 0
    threshold: int = 0
    percent_bp: int = 0
    cap: int = 0
    gift_sku_id: int | None = None
    categories: frozenset[str] = field(default_factory=frozenset)
    products: frozenset[int] = field(default_factory=frozenset)

    @property
    def scoped(self) -> bool:
        return bool(self.categories or self.products)


MAX_FEN = 100_000_000


def check_terms(t: CouponTerms) -> None:
    """A template's terms make sense (bad input gets a stable code, never a 500)."""
    if t.kind in (Kind.fixed, Kind.threshold) and not 0 < t.amount <= MAX_FEN:
        raise Invalid("coupon.amount_invalid", "A coupon takes between 0.01 and 1,000,000 元 off.", field="amount")
    if t.kind == Kind.threshold and not (0 < t.threshold <= MAX_FEN and t.amount < t.threshold):
        raise Invalid("coupon.threshold_invalid", "满减: the threshold must be above the amount off.", field="threshold")
    if t.kind == Kind.percent:
        if not 0 < t.percent_bp < BP_WHOLE:
            raise Invalid("coupon.percent_invalid", "A percent coupon takes between 0.01% and 99.99% off.", field="percent_bp")
        if not 0 <= t.cap <= MAX_FEN:
            raise Invalid("coupon.cap_invalid", "The cap is between 0 (none) and 1,000,000 元.", field="cap")
    if t.kind == Kind.gift and t.gift_sku_id is None:
        raise Invalid("coupon.gift_sku_required", "A gift coupon names the SKU it gives.", field="gift_sku_id")


def in_scope(t: CouponTerms, product_id: int, category: str | None) -> bool:
    if not t.scoped:
        return True
    return product_id in t.products or (category is not None and category in t.categories)


@dataclass(frozen=True)
class ScopedLine:
    sku_id: int
    product_id: int
    category: str | None
    amount: int  # what the line costs after the campaign price, fen
    unit_price: int


def discount(t: CouponTerms, lines: Sequence[ScopedLine]) -> tuple[int, list[int]]:
    """(fen off, the weights to spread it over: the in-scope line amounts, 0 elsewhere).
    Zero when the order does not qualify (a threshold not met, the gift SKU not bought)."""
    weights = [ln.amount if in_scope(t, ln.product_id, ln.category) else 0 for ln in lines]
    eligible = sum(weights)
    if eligible <= 0:
        return 0, weights
    if t.kind == Kind.fixed:
        off = t.amount
    elif t.kind == Kind.threshold:
        off = t.amount if eligible >= t.threshold else 0
    elif t.kind == Kind.percent:
        off = apply_bp_floor(eligible, t.percent_bp)
        if t.cap:
            off = min(off, t.cap)
    else:  # gift: one unit of the gift SKU is free
        gift = [ln for ln in lines if ln.sku_id == t.gift_sku_id]
        if not gift:
            return 0, weights
        weights = [ln.amount if ln.sku_id == t.gift_sku_id else 0 for ln in lines]
        off = gift[0].unit_price
    return min(off, eligible), weights


def capped_for_payable(off: int, subtotal: int) -> int:
    """A coupon never leaves less than 1 fen to pay."""
    return max(0, min(off, subtotal - 1))


def valid_window(valid_from: datetime | None, valid_to: datetime | None, valid_days: int | None, claimed_at: datetime) -> tuple[datetime, datetime | None]:
    """When a coupon claimed at ``claimed_at`` may be used: the template's dates, or N days
    from the claim (whichever the template sets; N days wins when both are set, bounded by
    the template's end)."""
    start = max(valid_from, claimed_at) if valid_from else claimed_at
    if valid_days:
        end = claimed_at + timedelta(days=valid_days)
        return start, min(end, valid_to) if valid_to else end
    return start, valid_to


# --- stored value ---------------------------------------------------------------------------

STORED_VALUE_CAP = 500_000  # fen per member per merchant (单用途商业预付卡 named-card cap)
TOPUP_PENDING_HOLD = timedelta(minutes=30)  # how long an unpaid top-up counts towards the cap


@dataclass(frozen=True)
class Plan:
    pay: int
    bonus: int


def check_plans(plans: Sequence[Plan]) -> None:
    pays = [p.pay for p in plans]
    if len(set(pays)) != len(pays):
        raise Invalid("topup.plan_duplicate", "Two plans have the same amount.")
    for p in plans:
        if not 0 < p.pay <= STORED_VALUE_CAP or not 0 <= p.bonus <= p.pay:
            raise Invalid("topup.plan_invalid", "A plan pays 0.01 to 5,000 元 and gives a bonus of at most what it pays.", pay=p.pay)


def bonus_for(plans: Sequence[Plan], pay: int) -> int:
    """The bonus of the plan for exactly ``pay`` (充100送10); a free amount gets none."""
    return next((p.bonus for p in plans if p.pay == pay), 0)


def check_topup(pay: int, bonus: int, principal: int, held_bonus: int) -> None:
    if pay <= 0:
        raise Invalid("topup.invalid", "A top-up pays at least 0.01 元.")
    if principal + held_bonus + pay + bonus > STORED_VALUE_CAP:
        raise Invalid("stored_value.over_cap", "A member holds at most 5,000 元 of stored value per shop.", cap=STORED_VALUE_CAP, room=max(0, STORED_VALUE_CAP - principal - held_bonus))


def split_spend(amount: int, principal: int, bonus: int) -> tuple[int, int]:
    """(from principal, from bonus): principal first."""
    if amount < 0 or amount > principal + bonus:
        raise Invalid("stored_value.insufficient", "Not enough stored value.", available=max(principal + bonus, 0))
    p = min(amount, principal)
    return p, amount - p


def bonus_forfeited(refund_principal: int, principal: int, bonus: int) -> int:
    """Refunding ``refund_principal`` of ``principal`` forfeits the same share of the bonus
    (rounded up, so the bonus kept never exceeds its share)."""
    if principal <= 0 or refund_principal <= 0 or bonus <= 0:
        return 0
    return min(bonus, -(-bonus * refund_principal // principal))


# --- member levels --------------------------------------------------------------------------

GROWTH_WINDOW = timedelta(days=365)
DOWNGRADE_NOTICE = timedelta(days=30)


@dataclass(frozen=True)
class Level:
    name: str
    growth: int  # the growth value from which the level applies
    discount_bp: int = 0
    free_delivery: bool = False
    birthday_coupon_template_id: int | None = None


def check_levels(levels: Sequence[Level]) -> None:
    if len(levels) > 10:
        raise Invalid("levels.too_many", "At most 10 levels.")
    for i, lv in enumerate(levels):
        if not lv.name.strip() or len(lv.name) > 20:
            raise Invalid("levels.name_invalid", "A level has a name of 1 to 20 characters.", index=i)
        if not 0 <= lv.discount_bp < BP_WHOLE:
            raise Invalid("levels.discount_invalid", "A level's discount is between 0 and 99.99%.", index=i)
        if lv.growth < 0 or (i and lv.growth <= levels[i - 1].growth):
            raise Invalid("levels.thresholds_not_increasing", "Level thresholds must be strictly increasing.", index=i)


def level_for(growth: int, levels: Sequence[Level]) -> int | None:
    """The index of the highest level ``growth`` reaches, None below the first."""
    reached = None
    for i, lv in enumerate(levels):
        if growth >= lv.growth:
            reached = i
    return reached


@dataclass(frozen=True)
class LevelChange:
    level: int | None  # the level in force after this decision
    notice: bool = False  # announce a downgrade at the next review


def decide_level(current: int | None, growth: int, levels: Sequence[Level], now: datetime, review_at: datetime) -> LevelChange:
    """Upgrade at once; a lower computed level takes effect only at ``review_at`` (the yearly
    review), announced from 30 days before it."""
    computed = level_for(growth, levels)
    rank = -1 if computed is None else computed
    have = -1 if current is None else current
    if rank >= have:
        return LevelChange(computed)
    if now >= review_at:
        return LevelChange(computed)
    return LevelChange(current, notice=now >= review_at - DOWNGRADE_NOTICE)


REVIEW_EVERY_YEARS = 1


def years_later(at: datetime, years: int = REVIEW_EVERY_YEARS) -> datetime:
    """The same Shanghai wall-clock moment ``years`` later (29 February → 28 February): a
    member's yearly review falls on the anniversary of the day they first reached a level."""
    local = at.astimezone(SHANGHAI)
    try:
        moved = local.replace(year=local.year + years)
    except ValueError:  # 29 February in a year without one
        moved = local.replace(year=local.year + years, day=28)
    return moved.astimezone(at.tzinfo)


def next_review(review_at: datetime, now: datetime) -> datetime:
    """The first yearly review after ``now`` (a review missed while nothing ran is applied
    once, then the next one is a year after it)."""
    nxt = review_at
    while nxt <= now:
        nxt = years_later(nxt)
    return nxt


def level_unit_price(unit_price: int, discount_bp: int) -> int:
    """A unit's price after the level's discount: the discount is floored (a fraction of a
    fen stays with the price), so the price is never below 1 fen for a unit of at least 1."""
    return unit_price - apply_bp_floor(unit_price, discount_bp)


def birthdays_on(today: date) -> list[tuple[int, int]]:
    """The (month, day) birthdays celebrated on ``today``."""
    out = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        out.append((2, 29))  # 29 February is celebrated on the 28th in a year without one
    return out
