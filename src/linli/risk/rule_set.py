"""A merchant's risk rule set, described once (pure, no I/O): which rules are on, what each
one scores, its thresholds, and the score thresholds that map a sharer's case to an outcome.

RULES.md ("Risk and compliance") fixes the defaults: self-referral → the beneficiary earns
nothing on the order; ≥ 3 members on one device or address in 30 days bound to one sharer →
hold; more than 5 orders an hour or 20 a day from new members through one sharer → review;
refunds over 30% of a sharer's attributed orders in 30 days → hold; new accounts buying only
through one sharer → review; pickup or delivery more than 3 km outside the leader's
community → no leader commission on that order.

A case's score is the sum, over the distinct rules that fired for the sharer while the case
is open, of each rule's score; ``outcome`` maps it to approve < review ≤ hold < block
(the thresholds are monotonic: ``review_at ≤ hold_at < block_at``, refused otherwise).
The default scores (review rules 30, hold rules 70, self-referral 100 against thresholds
30 / 70 / 100) keep each rule at the outcome RULES.md gives it when it fires alone; both
review rules together stay a review (60); a review rule on top of a hold rule, or
self-referral, reaches block. A case at hold or block holds the sharer's commission alike
(block is listed first on the desk); on an order, a block refuses that beneficiary's share.
Two choices of ours where RULES.md is silent, written down here:

- the refund-rate rule waits for ``refund_rate_min_orders`` (default 5) attributed orders, so
  one refunded first order (100%) does not put a new sharer on hold;
- "new accounts buying only through one sharer" fires when at least
  ``single_sharer_min_accounts`` (default 50) members bound to the sharer in the window have
  paid orders and every one of their paid orders in the window went through that sharer and
  no one else, and they make all of the sharer's attributed buyers in the window. Honest
  neighbours invited by one sharer look exactly like that too, so the default asks for 50
  such accounts in 30 days before a human looks (a review holds no money): a compound of 30
  neighbours joining one sharer in a month is normal business and triggers nothing;
- a staff "false positive" snoozes that rule for that member for ``snooze_days`` (default 90).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linli.errors import Invalid
from linli.knobs import Knob, Spec

SELF_REFERRAL, CLUSTER, VELOCITY, REFUND_RATE, SINGLE_SHARER, CROSS_AREA = "self_referral", "cluster", "velocity", "refund_rate", "single_sharer", "cross_area"
RULES = (SELF_REFERRAL, CLUSTER, VELOCITY, REFUND_RATE, SINGLE_SHARER, CROSS_AREA)
APPROVE, REVIEW, HOLD, BLOCK = "approve", "review", "hold", "block"
OUTCOMES = (APPROVE, REVIEW, HOLD, BLOCK)

_SCORE = {"lo": 0, "hi": 1000, "unit": "points"}

SPEC = Spec("risk", (
    Knob("self_referral_enabled", True),
    Knob("self_referral_score", 100, **_SCORE),
    Knob("cluster_enabled", True),
    Knob("cluster_score", 70, **_SCORE),
    Knob("cluster_min_members", 3, lo=2, hi=100, unit="members"),
    Knob("cluster_days", 30, lo=1, hi=180, unit="days"),
    Knob("velocity_enabled", True),
    Knob("velocity_score", 30, **_SCORE),
    Knob("velocity_per_hour", 5, lo=1, hi=10_000, unit="orders"),
    Knob("velocity_per_day", 20, lo=1, hi=100_000, unit="orders"),
    Knob("velocity_new_days", 30, lo=1, hi=180, unit="days"),
    Knob("refund_rate_enabled", True),
    Knob("refund_rate_score", 70, **_SCORE),
    Knob("refund_rate_max_bp", 3000, lo=1, hi=10_000, unit="bp"),
    Knob("refund_rate_days", 30, lo=1, hi=180, unit="days"),
    Knob("refund_rate_min_orders", 5, lo=1, hi=10_000, unit="orders"),
    Knob("single_sharer_enabled", True),
    Knob("single_sharer_score", 30, **_SCORE),
    Knob("single_sharer_min_accounts", 50, lo=2, hi=10_000, unit="members"),
    Knob("single_sharer_days", 30, lo=1, hi=180, unit="days"),
    Knob("cross_area_enabled", True),
    Knob("cross_area_distance_m", 3000, lo=500, hi=100_000, unit="m"),
    Knob("review_at", 30, lo=1, hi=1000, unit="points"),
    Knob("hold_at", 70, lo=1, hi=1000, unit="points"),
    Knob("block_at", 100, lo=1, hi=1000, unit="points"),
    Knob("sla_days", 7, lo=1, hi=60, unit="days"),
    Knob("snooze_days", 90, lo=1, hi=365, unit="days"),
), code="risk.rules_invalid")


@dataclass(frozen=True)
class RiskRules:
    """One version of a merchant's rule set (version 0: the defaults, never saved)."""

    version: int
    values: Mapping[str, Any]

    def on(self, rule: str) -> bool:
        return bool(self.values[f"{rule}_enabled"]) if f"{rule}_enabled" in SPEC else True

    def score(self, rule: str) -> int:
        return int(self.values.get(f"{rule}_score", 0))

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def defaults() -> RiskRules:
    return RiskRules(0, SPEC.defaults())


def validate(changes: Mapping[str, Any], base: RiskRules | None = None, version: int = 0) -> RiskRules:
    """``base`` (default: the defaults) with ``changes`` applied, if every value is a setting
    within its bounds and the thresholds keep their order; else refused with its code."""
    SPEC.check(changes)
    values = {**(base or defaults()).values, **changes}
    if not values["review_at"] <= values["hold_at"] < values["block_at"]:
        raise Invalid(
            "risk.thresholds_order", "The thresholds must keep their order: review ≤ hold < block.",
            field="hold_at", review_at=values["review_at"], hold_at=values["hold_at"], block_at=values["block_at"],
        )
    return RiskRules(version, values)


def outcome(score: int, rs: RiskRules) -> str:
    """approve < review ≤ hold < block: the highest threshold the score reaches."""
    if score >= rs["block_at"]:
        return BLOCK
    if score >= rs["hold_at"]:
        return HOLD
    if score >= rs["review_at"]:
        return REVIEW
    return APPROVE


def holds(level: str) -> bool:
    """Whether a case at this level keeps the sharer's commission frozen."""
    return level in (HOLD, BLOCK)


def case_score(scores_by_rule: Mapping[str, int]) -> int:
    """The sum of each distinct rule's score (a rule firing twice counts once, at its highest)."""
    return sum(scores_by_rule.values())
