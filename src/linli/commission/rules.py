"""Commission maths as pure functions (RULES.md, "Commission"). No I/O, no clock.

Rates are basis points. Each beneficiary's amount on a line is floor(base × rate / 10000);
what floors away stays with the merchant. The chain is walked without compression: level k
is the k-th sharer up the bindings, and a member there who is not an active sharer gets
nothing while the level's share is not passed upward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from linli.errors import Invalid
from linli.knobs import Knob, Spec
from linli.money import BP_WHOLE, apply_bp_floor
from linli.referral.rules import ChainLink

MAX_ID = 2**63 - 1  # the largest row id (BIGINT)
ABSOLUTE_MAX_LEVELS = 3  # 《禁止传销条例》: three levels is the criminal line; never more
WITHDRAW_DAILY_COUNT = 3  # withdrawals a sharer may ask for per day (not a merchant setting yet)


class Settlement(StrEnum):
    realtime = "realtime"
    t_plus_1 = "t_plus_1"


# A merchant's rule set: the one place its defaults and bounds are written (the default rule
# set, the API, the rules editor and ``service.put_rules`` read them). The codes are the ones
# ``validate`` and ``put_rules`` have always answered. The levels' upper bound is the law's;
# the platform may allow fewer (``validate``).
SETTINGS = Spec("commission", (
    Knob("levels", 2, 1, ABSOLUTE_MAX_LEVELS, unit="levels", code="commission.levels_over_max"),
    Knob("rates_bp", (2000, 500), 0, BP_WHOLE, unit="bp", code="commission.rate_invalid"),  # one per level
    Knob("leader_rate_bp", 1500, 0, BP_WHOLE, unit="bp", code="commission.rate_invalid"),
    Knob("cap_bp", 5000, 0, BP_WHOLE, unit="bp", code="commission.cap_invalid"),
    Knob("self_purchase", False),
    Knob("settlement", Settlement.realtime.value, choices=tuple(m.value for m in Settlement), code="commission.settlement_invalid"),
    Knob("withdraw_min", 100, 1, 10_000_000, unit="fen", code="commission.withdraw_min_invalid"),
    Knob("withdraw_fee_bp", 0, 0, 2000, unit="bp", code="commission.withdraw_fee_bp_invalid"),
    Knob("withdraw_auto_max", 50_000, 0, 100_000_000, unit="fen", code="commission.withdraw_auto_max_invalid"),
))


@dataclass(frozen=True)
class RuleSet:
    levels: int = SETTINGS.default("levels")
    rates_bp: tuple[int, ...] = SETTINGS.default("rates_bp")
    leader_rate_bp: int = SETTINGS.default("leader_rate_bp")
    cap_bp: int = SETTINGS.default("cap_bp")
    self_purchase: bool = SETTINGS.default("self_purchase")
    # Overrides: the most specific wins (product, then category; a campaign override,
    # when the order came through a campaign, wins over both).
    category_rates: dict[str, tuple[int, ...]] = field(default_factory=dict)
    product_rates: dict[int, tuple[int, ...]] = field(default_factory=dict)
    campaign_rates: dict[int, tuple[int, ...]] = field(default_factory=dict)


def id_keyed(kind: str, table: dict) -> dict[int, tuple[int, ...]]:
    """A product or campaign override table, keyed by id (JSON object keys are text): a key
    that is not an id (1 .. 2^63-1) is refused, never a crash."""
    out = {}
    for key, rates in table.items():
        text = str(key)
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ID:
            raise Invalid("commission.override_key_invalid", f"{kind} overrides are keyed by {kind} id; {text[:40]!r} is not one.", field=f"{kind}:{text[:40]}")
        out[int(text)] = tuple(rates)
    return out


def validate(rs: RuleSet, platform_max_levels: int) -> RuleSet:
    """Refuse a rule set outside the bounds, with the first problem as the error code."""
    lowest, most = SETTINGS.bounds("levels")
    allowed = min(platform_max_levels, most)
    if not lowest <= rs.levels <= allowed:
        raise Invalid("commission.levels_over_max", f"At most {allowed} commission levels are allowed on this platform.", max_levels=allowed)
    tables = [("rates_bp", rs.rates_bp)]
    tables += [(f"category:{k}", v) for k, v in rs.category_rates.items()]
    tables += [(f"product:{k}", v) for k, v in rs.product_rates.items()]
    tables += [(f"campaign:{k}", v) for k, v in rs.campaign_rates.items()]
    for name, rates in tables:
        if len(rates) != rs.levels:
            raise Invalid("commission.rates_length", f"{name} needs exactly {rs.levels} rates, one per level.", field=name)
        if not SETTINGS["rates_bp"].allows(rates) or not SETTINGS["leader_rate_bp"].allows(rs.leader_rate_bp):
            lo, hi = SETTINGS.bounds("rates_bp")
            raise Invalid("commission.rate_invalid", f"Rates are whole basis points from {lo} to {hi}.", field=name, lo=lo, hi=hi)
        if sum(rates) + rs.leader_rate_bp > rs.cap_bp:
            raise Invalid("commission.rates_over_cap", f"{name}: the rates that can apply to one line add up to {sum(rates) + rs.leader_rate_bp} bp, over the cap of {rs.cap_bp} bp.", field=name, cap_bp=rs.cap_bp)
    SETTINGS.check({"cap_bp": rs.cap_bp})
    return rs


def rates_for(rs: RuleSet, *, category: str | None, product_id: int | None, campaign_id: int | None) -> tuple[int, ...]:
    if campaign_id is not None and campaign_id in rs.campaign_rates:
        return rs.campaign_rates[campaign_id]
    if product_id is not None and product_id in rs.product_rates:
        return rs.product_rates[product_id]
    if category is not None and category in rs.category_rates:
        return rs.category_rates[category]
    return rs.rates_bp


def chain_beneficiaries(chain: Sequence[ChainLink], levels: int) -> list[tuple[int, int]]:
    """(member_id, level) for the first ``levels`` links of the chain that are active
    sharers; inactive links take their level with them (no compression)."""
    out = []
    for level, link in enumerate(chain[:levels], start=1):
        if link.active_sharer:
            out.append((link.member_id, level))
    return out


@dataclass(frozen=True)
class Share:
    member_id: int
    level: int  # 1..3, or 0 for the leader's share
    rate_bp: int
    amount: int


LEADER_LEVEL = 0


def line_shares(base: int, rates: Sequence[int], beneficiaries: Sequence[tuple[int, int]], leader_id: int | None, leader_rate_bp: int) -> list[Share]:
    """Each beneficiary's floor(base × rate / 10000) on one line."""
    shares = [Share(m, lvl, rates[lvl - 1], apply_bp_floor(base, rates[lvl - 1])) for m, lvl in beneficiaries]
    if leader_id is not None and leader_rate_bp:
        shares.append(Share(leader_id, LEADER_LEVEL, leader_rate_bp, apply_bp_floor(base, leader_rate_bp)))
    return [s for s in shares if s.amount > 0 or s.rate_bp > 0]


def after_refund(share: Share, base: int, refunded: int) -> int:
    """The share's amount once ``refunded`` of the line's base is paid back (same floor)."""
    return apply_bp_floor(max(base - refunded, 0), share.rate_bp)


def check_tiers(tiers: list[list[int]], headroom_bp: int) -> list[list[int]]:
    clean = []
    for t in tiers:
        if len(t) != 2 or any(isinstance(x, bool) or not isinstance(x, int) for x in t) or t[0] < 0 or not 0 <= t[1] <= 2000:
            raise Invalid("commission.bonus_invalid", "A bonus tier is [minimum GMV in fen, bonus bp ≤ 2000].")
        clean.append([t[0], t[1]])
    if clean and max(bp for _, bp in clean) > headroom_bp:
        raise Invalid("commission.rates_over_cap", "The largest bonus plus the line rates would exceed the cap.", cap_headroom_bp=headroom_bp)
    return sorted(clean)

