"""Badges (RULES.md "Growth incentives" → Badges and tiers): pure rules over a member's facts
at one merchant. No I/O; the clock is passed in.

A badge is a rule over facts: a metric, a threshold, a period and whether it is revocable.
The same ``held`` decides for the event that reaches a badge (``badges.evaluate``) and for the
nightly backfill (``badge_backfill``), so the two agree by construction and a test checks it.

The catalogue (``catalogue``; the thresholds are the merchant's, within ``SETTINGS``):

- ``recommender`` 社区推荐官: granted referrals of distinct friends within 90 days ≥ N
  (default 5). Two programmes rewarding the same friend's first order are one friend. Not
  revocable: a granted referral stays granted (RULES.md), and the badge, once reached, stays —
  it does not lapse when the rolling count later falls below N, nor when the merchant raises
  N. A lapse would be decided by time passing, which no event sees, so holders would lose
  their privileges at an arbitrary nightly tick; the honour is for having done it. It is
  reached when some 90 days ever held N grants (the last grant less than 90 days after the
  first of them), which is what the event of the N-th grant sees and what the backfill
  checks over the whole history.
- ``first_sale`` 首单达人: a referred sale received (its net paid above 0). Revocable: it goes
  when every such sale is refunded to 0, and comes back with the next one.
- ``gmv_bronze`` / ``gmv_silver`` / ``gmv_gold`` 带货铜牌 / 银牌 / 金牌: lifetime referred GMV
  (received, net of refunds) ≥ 100,000 / 500,000 / 2,000,000 fen by default. Revocable: a
  refund that takes it below the threshold takes the badge (RULES.md: a revocable badge goes
  when the orders behind it are refunded).

A revocable badge is held exactly while its metric reaches its threshold; one that is not is
held from the first time it does. A rolling period on a revocable badge is refused: it would
lapse with time alone.

The privileges of 社区推荐官 (``PRIVILEGES``): first access to product trials, a leader's
campaign code, and the merchant's recommender group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from linli.errors import Invalid
from linli.knobs import Knob, Spec

RECOMMENDER = "recommender"
CODES = ("recommender", "first_sale", "gmv_bronze", "gmv_silver", "gmv_gold")
RECOMMENDER_DAYS = 90
PRIVILEGES = ("trials_first", "campaign_code", "recommender_group")

SETTINGS = Spec("badges", (
    Knob("recommender_referrals", 5, 1, 100, unit="units"),  # granted referrals within 90 days for 社区推荐官
    Knob("gmv_bronze", 100_000, 100, 1_000_000_000, unit="fen"),  # lifetime referred GMV for 带货铜牌
    Knob("gmv_silver", 500_000, 100, 1_000_000_000, unit="fen"),
    Knob("gmv_gold", 2_000_000, 100, 1_000_000_000, unit="fen"),
), code="badge.settings_invalid")
TIERS = ("gmv_bronze", "gmv_silver", "gmv_gold")

GROUP_NAME_MAX = 40
GROUP_LINK_MAX = 300
GROUP_TEXT_MAX = 200
GUIDE_MAX = 2000
KIT_DAYS = 30  # the starter kit shows in the sharer centre this long, unless dismissed


class Metric(StrEnum):
    referrals = "referrals"  # granted referrals (distinct friends) within the period
    sales = "sales"  # referred sales whose net paid is above 0
    gmv = "gmv"  # fen: referred GMV, received and net of refunds


@dataclass(frozen=True)
class Badge:
    code: str
    metric: Metric
    threshold: int
    period_days: int | None = None
    revocable: bool = True
    privileges: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.period_days is not None and self.revocable:
            raise ValueError(f"badge {self.code}: a rolling period would lapse with time alone; such a badge is not revocable")


@dataclass(frozen=True)
class Facts:
    """What one member did at one merchant."""

    referrals: tuple[datetime, ...] = ()  # when each friend's referral was first granted, oldest first
    sales: int = 0
    gmv: int = 0


def catalogue(cfg: Mapping[str, int]) -> tuple[Badge, ...]:
    """The badges with the merchant's thresholds (``cfg``: the values of ``SETTINGS``)."""
    return (
        Badge(RECOMMENDER, Metric.referrals, cfg["recommender_referrals"], RECOMMENDER_DAYS, revocable=False, privileges=PRIVILEGES),
        Badge("first_sale", Metric.sales, 1),
        *(Badge(t, Metric.gmv, cfg[t]) for t in TIERS),
    )


def window_reached(times: Sequence[datetime], n: int, days: int) -> bool:
    """Whether some ``n`` of ``times`` (sorted) fall within ``days``: the last less than
    ``days`` after the first."""
    span = timedelta(days=days)
    return any(times[i + n - 1] - times[i] < span for i in range(len(times) - n + 1))


def reached(b: Badge, f: Facts) -> bool:
    if b.metric == Metric.referrals:
        return window_reached(f.referrals, b.threshold, b.period_days) if b.period_days else len(f.referrals) >= b.threshold
    return value(b, f, None) >= b.threshold


def held(b: Badge, f: Facts, held_now: bool) -> bool:
    """Whether the member should hold ``b``, given whether they hold it now."""
    return reached(b, f) or (held_now and not b.revocable)


def value(b: Badge, f: Facts, now: datetime | None) -> int:
    """The metric now: referrals within the period up to ``now`` (all of them without a
    period or a clock), sales, fen of GMV."""
    if b.metric == Metric.referrals:
        if b.period_days is None or now is None:
            return len(f.referrals)
        since = now - timedelta(days=b.period_days)
        return sum(1 for t in f.referrals if since < t <= now)
    return f.sales if b.metric == Metric.sales else f.gmv


# --- settings ---------------------------------------------------------------------------------------


def check_settings(values: Mapping[str, int]) -> Mapping[str, int]:
    """The merchant's thresholds (all of them, as they will be): each within its bounds, the
    tiers each above the one before."""
    SETTINGS.check(values)
    for lower, upper in zip(TIERS, TIERS[1:], strict=False):
        if values[upper] <= values[lower]:
            raise Invalid("badge.tiers_not_increasing", "Each GMV tier needs more than the one before it.", field=upper)
    return values


def _nul(value: str, code: str, field: str) -> None:
    """A NUL character is refused (no person types one; PostgreSQL cannot store it)."""
    if "\x00" in value:
        raise Invalid(code, "The text contains a NUL character.", field=field)


def check_group(name: str, link: str, text: str) -> None:
    """The recommender group as the merchant describes it: a name, a join link (http or
    https) and/or how to join; all empty is no group."""
    _nul(name, "badge.group_name_invalid", "group_name")
    _nul(link, "badge.group_link_invalid", "group_link")
    _nul(text, "badge.group_text_invalid", "group_text")
    if len(name) > GROUP_NAME_MAX:
        raise Invalid("badge.group_name_invalid", f"A group name has at most {GROUP_NAME_MAX} characters.", field="group_name")
    if link and (len(link) > GROUP_LINK_MAX or not link.startswith(("https://", "http://")) or any(c.isspace() for c in link) or len(link) <= len("https://")):
        raise Invalid("badge.group_link_invalid", "A join link starts with https:// (at most 300 characters, no spaces).", field="group_link")
    if len(text) > GROUP_TEXT_MAX:
        raise Invalid("badge.group_text_invalid", f"How to join has at most {GROUP_TEXT_MAX} characters.", field="group_text")
    if (link or text) and not name:
        raise Invalid("badge.group_name_invalid", "Name the group.", field="group_name")


def check_guide(text: str) -> None:
    _nul(text, "starter.guide_invalid", "starter_guide")
    if len(text) > GUIDE_MAX:
        raise Invalid("starter.guide_invalid", f"The guide has at most {GUIDE_MAX} characters.", field="starter_guide")


def kit_shown(given_at: datetime, dismissed_at: datetime | None, now: datetime) -> bool:
    """The starter kit shows until dismissed, or for ``KIT_DAYS`` after it was given."""
    return dismissed_at is None and now < given_at + timedelta(days=KIT_DAYS)
