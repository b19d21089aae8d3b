"""Analytics' pure rules: what one paid order contributes to the rollups, and the
definitions of RULES.md ("Analytics") as arithmetic on rollup sums. No I/O, no clock.

An order's contribution is a function of its facts alone (``OrderFact``), so keeping the
rollups is restating: on any event of an order, take back what its previous facts put in
and put in what its facts are now. That is idempotent (the same facts twice give a zero
difference), independent of the order events arrive in (each restatement reads the order
as it is now), and a rebuild is the same function summed over every paid order.

Days are Asia/Shanghai calendar days. Two views of a refund, as RULES.md says:
- finance books it on the day it was paid back (``refunds`` of that day), so a day's GMV
  once shown only changes by what happened that day;
- cohort and rate figures restate the order's own day (``refunded_of_day`` and the member
  day's ``refunded``), so a late refund lowers the period the order belongs to. The refund
  rate counts what buyers asked back (``buyer_refunded_of_day``, ``refund_orders``): a
  campaign's own refunds — a threshold rebate, a failed team, a leader's free order — are
  money going back, not unhappy buyers (risk counts a sharer's refund rate the same way).

Dimensions a day row is keyed by (0 for none): community, leader, sharer (the member who
brought the order: level 1 of its attribution, the code it came with or the buyer's
binding) and campaign.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from linli.timeutil import SHANGHAI

NONE = 0  # the dimension value of "no community / leader / sharer / campaign"
MAX_RANGE_DAYS = 366

# Columns of a day row and of a member day row (every one a sum: fen or a count).
DAY_FIELDS = ("orders", "code_orders", "gmv", "refunds", "refunded_of_day", "buyer_refunded_of_day", "refund_orders", "received_orders", "received_net", "received_attributed_net")
MEMBER_FIELDS = ("orders", "paid", "refunded", "received_orders")

DayKey = tuple[int, date, int, int, int, int]  # merchant, day, community, leader, sharer, campaign
MemberKey = tuple[int, int, date]  # merchant, member, day
Sums = dict[str, int]


def local_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()


@dataclass(frozen=True)
class OrderFact:
    """One paid order as the rollups see it."""

    merchant_id: int
    order_id: int
    member_id: int
    community_id: int
    leader_id: int
    sharer_id: int
    campaign_id: int
    attributed: bool  # another member brought it: a code or a binding (a sharer's, or a leader's campaign code)
    paid_day: date
    paid: int
    received_day: date | None
    refunds: tuple[tuple[date, int, bool], ...]  # (day paid back, fen, the system's own: a campaign's rebate, a failed team, a free order)
    via_code: bool = False  # it came through the sharer's own code (not only their binding): the code was used

    @property
    def refunded(self) -> int:
        return sum(a for _, a, _ in self.refunds)

    @property
    def buyer_refunded(self) -> int:
        """What buyers asked back (the refund rate's), not the campaigns' own refunds."""
        return sum(a for _, a, by_system in self.refunds if not by_system)


def _add(rows: dict, key, **sums: int) -> None:
    row = rows.setdefault(key, {})
    for name, value in sums.items():
        if value:
            row[name] = row.get(name, 0) + value


def day_rows(f: OrderFact) -> dict[DayKey, Sums]:
    """What the order puts into the day rows."""
    rows: dict[DayKey, Sums] = {}

    def key(day: date) -> DayKey:
        return (f.merchant_id, day, f.community_id, f.leader_id, f.sharer_id, f.campaign_id)

    refunded, asked = f.refunded, f.buyer_refunded
    _add(rows, key(f.paid_day), orders=1, code_orders=1 if f.via_code else 0, gmv=f.paid, refunded_of_day=refunded, buyer_refunded_of_day=asked, refund_orders=1 if asked else 0)
    for day, amount, _ in f.refunds:
        _add(rows, key(day), refunds=amount)
    if f.received_day is not None:
        net = f.paid - refunded
        _add(rows, key(f.received_day), received_orders=1, received_net=net, received_attributed_net=net if f.attributed else 0)
    return rows


def member_rows(f: OrderFact) -> dict[MemberKey, Sums]:
    """What the order puts into its buyer's member days (refunds restated on the order's day)."""
    rows: dict[MemberKey, Sums] = {}
    _add(rows, (f.merchant_id, f.member_id, f.paid_day), orders=1, paid=f.paid, refunded=f.refunded)
    if f.received_day is not None:
        _add(rows, (f.merchant_id, f.member_id, f.received_day), received_orders=1)
    return rows


def difference(old: Mapping, new: Mapping) -> dict:
    """new − old, row by row, leaving out what does not change."""
    out: dict = {}
    for key in set(old) | set(new):
        a, b = old.get(key, {}), new.get(key, {})
        delta = {n: b.get(n, 0) - a.get(n, 0) for n in set(a) | set(b)}
        delta = {n: v for n, v in delta.items() if v}
        if delta:
            out[key] = delta
    return out


def add_rows(into: dict, rows: Mapping) -> None:
    """Add one order's rows into a running total (a rebuild's)."""
    for key, sums in rows.items():
        _add(into, key, **sums)


# --- first facts of a member ------------------------------------------------------------


class Firsts:
    """A customer's firsts at a merchant, folded over their orders' facts one at a time (a
    rebuild keeps one per customer, not every order): the first paid order (its day is the
    cohort; its community is theirs when they chose none) and the first received order
    (whether someone else brought it: the K-factor's conversion)."""

    __slots__ = ("first", "received")

    def __init__(self, facts: Iterable[OrderFact] = ()) -> None:
        self.first: tuple[date, int, int] | None = None  # (paid day, order, community)
        self.received: tuple[date, int, bool] | None = None  # (received day, order, attributed)
        for f in facts:
            self.see(f)

    def see(self, f: OrderFact) -> None:
        if self.first is None or (f.paid_day, f.order_id) < self.first[:2]:
            self.first = (f.paid_day, f.order_id, f.community_id)
        if f.received_day is not None and (self.received is None or (f.received_day, f.order_id) < self.received[:2]):
            self.received = (f.received_day, f.order_id, f.attributed)

    @property
    def first_day(self) -> date | None:
        return self.first[0] if self.first else None

    @property
    def first_community(self) -> int:
        return self.first[2] if self.first else NONE

    @property
    def first_received_day(self) -> date | None:
        return self.received[0] if self.received else None

    @property
    def first_received_attributed(self) -> bool:
        return bool(self.received and self.received[2])


def joined_day(arrived_day: date | None, first_day: date | None) -> date | None:
    """A member became the merchant's on the first of: bound by one of its links or choosing
    one of its communities (``arrived_day``), or paying a first order there."""
    days = [d for d in (arrived_day, first_day) if d is not None]
    return min(days) if days else None


# --- the definitions ---------------------------------------------------------------------


def bp(numerator: int, denominator: int) -> int:
    """A ratio in basis points, rounded half up; 0 when there is nothing to divide by."""
    if denominator <= 0:
        return 0
    return int((Decimal(numerator) * 10000 / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def per_member(fen: int, members: int) -> int:
    """Fen per member, rounded half up (half a fen away from zero); 0 with no members."""
    if members <= 0:
        return 0
    return int((Decimal(fen) / Decimal(members)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def bp_text(value_bp: int) -> str:
    """A ratio kept in basis points as exact decimal text to two places, rounded half up
    (15000 → "1.50"): the K-factor and invites per sharer are ratios above 1, shown so."""
    hundredths = (value_bp + 50) // 100
    return f"{hundredths // 100}.{hundredths % 100:02d}"


@dataclass(frozen=True)
class KFactor:
    value_bp: int  # converted ÷ sharers, in basis points (10000 = a K of 1)
    invites_per_sharer_bp: int  # invites ÷ sharers, in basis points
    conversion_bp: int  # converted ÷ invites
    sharers: int
    invites: int
    converted: int

    @property
    def value(self) -> str:
        return bp_text(self.value_bp)

    @property
    def invites_per_sharer(self) -> str:
        return bp_text(self.invites_per_sharer_bp)


def k_factor(sharers: int, invites: int, converted: int) -> KFactor:
    """K = new members whose first received order someone else brought ÷ members whose code
    was used; its factors: invites (new members bound through a code) per sharer, and how
    many invites converted. Integers throughout (basis points), like every rate here."""
    return KFactor(bp(converted, sharers), bp(invites, sharers), bp(converted, invites), sharers, invites, converted)


def window(to: date, days: int) -> tuple[date, date]:
    """The ``days`` days ending on ``to`` (inclusive)."""
    return to - timedelta(days=days - 1), to


def add_months(day: date, n: int) -> date:
    """The first day of the month ``n`` months after ``day``'s month."""
    month = day.month - 1 + n
    return date(day.year + month // 12, month % 12 + 1, 1)


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


class RangeError(ValueError):
    """A range of days a dashboard cannot show."""


FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def check_range(start: date, end: date) -> None:
    if not (FIRST_DAY <= start and end <= LAST_DAY):
        raise RangeError(f"Days from {FIRST_DAY} to {LAST_DAY} only.")
    if start > end:
        raise RangeError("The range starts after it ends.")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise RangeError(f"A range is at most {MAX_RANGE_DAYS} days.")


PRESETS = {"today": 1, "7d": 7, "30d": 30}


def asked_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """From/to as asked, each defaulting around the other (a week), else the week to today;
    checked."""
    for day in (start, end):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise RangeError(f"Days from {FIRST_DAY} to {LAST_DAY} only.")
    end = end or (start + timedelta(days=6) if start else today)
    start = start or end - timedelta(days=6)
    check_range(start, end)
    return start, end


def preset_range(preset: str, today: date) -> tuple[date, date]:
    if preset not in PRESETS:
        raise RangeError(f"Unknown period {preset!r}.")
    return window(today, PRESETS[preset])
