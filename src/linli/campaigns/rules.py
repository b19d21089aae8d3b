"""Pure campaign rules: kinds, phases, what a campaign must say, which offer a buyer gets,
threshold tiers. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from linli.errors import Conflict, Forbidden, Invalid


class Kind(StrEnum):
    live = "live"  # 直播场次
    team = "group_buy"  # 拼团
    threshold = "threshold"  # 社区成团
    flash = "flash_sale"  # 秒杀
    presale = "presale"  # 预售


TEAM_SIZE_MIN, TEAM_SIZE_MAX = 2, 50
TEAM_HOURS_DEFAULT = 24
TEAM_VARIANTS = ("standard", "leader_free")
MISS_POLICIES = ("cancel", "proceed")
MAX_TIERS = 5
MAX_DURATION = timedelta(days=90)
EARLY_ACCESS_MAX = 1440  # minutes: members with early access may come in up to a day before the start


@dataclass(frozen=True)
class CampaignSpec:
    kind: str
    title: str
    starts_at: datetime
    ends_at: datetime
    team_size: int | None = None
    team_hours: int | None = None
    team_variant: str | None = None
    tiers: list[tuple[int, int]] | None = None
    miss_policy: str | None = None
    promised_date: date | None = None
    early_access_minutes: int = 0


def check_early_access(minutes: int) -> int:
    """Minutes before the start that members with early access may enter and buy."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= EARLY_ACCESS_MAX:
        raise Invalid("campaign.early_access_invalid", f"Early access is 0 to {EARLY_ACCESS_MAX} minutes before the start.", min=0, max=EARLY_ACCESS_MAX)
    return minutes


def check_spec(spec: CampaignSpec) -> CampaignSpec:
    """Validate what a campaign must say for its kind; returns it with defaults filled."""
    try:
        kind = Kind(spec.kind)
    except ValueError:
        raise Invalid("campaign.kind_invalid", "Kind is one of live, group_buy, threshold, flash_sale, presale.") from None
    title = " ".join((spec.title or "").split())
    if not 1 <= len(title) <= 60:
        raise Invalid("campaign.title_invalid", "A title of 1 to 60 characters.")
    if spec.starts_at.year < 2000 or spec.ends_at.year > 2200:
        raise Invalid("campaign.window_invalid", "Choose dates between 2000 and 2200.")
    if spec.ends_at <= spec.starts_at:
        raise Invalid("campaign.window_invalid", "The end must come after the start.")
    if spec.ends_at - spec.starts_at > MAX_DURATION:
        raise Invalid("campaign.window_too_long", "A campaign runs at most 90 days.")
    fields = {"kind": kind.value, "title": title, "starts_at": spec.starts_at, "ends_at": spec.ends_at, "early_access_minutes": check_early_access(spec.early_access_minutes)}
    if kind is Kind.team:
        size = spec.team_size
        if size is None or not TEAM_SIZE_MIN <= size <= TEAM_SIZE_MAX:
            raise Invalid("campaign.team_size_invalid", f"A team has {TEAM_SIZE_MIN} to {TEAM_SIZE_MAX} members.", min=TEAM_SIZE_MIN, max=TEAM_SIZE_MAX)
        hours = spec.team_hours or TEAM_HOURS_DEFAULT
        if not 1 <= hours <= 168:
            raise Invalid("campaign.team_hours_invalid", "A team's time limit is 1 to 168 hours.")
        variant = spec.team_variant or "standard"
        if variant not in TEAM_VARIANTS:
            raise Invalid("campaign.team_variant_invalid", "Variant is standard or leader_free.")
        fields.update(team_size=size, team_hours=hours, team_variant=variant)
    if kind is Kind.threshold:
        fields.update(tiers=check_tiers(spec.tiers or []), miss_policy=spec.miss_policy or "proceed")
        if fields["miss_policy"] not in MISS_POLICIES:
            raise Invalid("campaign.miss_policy_invalid", "When the minimum is missed: cancel or proceed.")
    if kind is Kind.presale:
        if spec.promised_date is None:
            raise Invalid("campaign.promised_date_required", "A pre-sale promises a delivery or pickup date.")
        if spec.promised_date < spec.ends_at.date():
            raise Invalid("campaign.promised_date_invalid", "The promised date cannot be before the cut-off.")
        fields.update(promised_date=spec.promised_date)
    return CampaignSpec(**fields)


def check_tiers(tiers: list[tuple[int, int]] | list[list[int]]) -> list[tuple[int, int]]:
    """Tiers ascending by order count, each giving more off per order than the last."""
    if not 1 <= len(tiers) <= MAX_TIERS:
        raise Invalid("campaign.tiers_invalid", f"A threshold has 1 to {MAX_TIERS} tiers.")
    out: list[tuple[int, int]] = []
    for i, pair in enumerate(tiers):
        if len(pair) != 2:
            raise Invalid("campaign.tiers_invalid", "Each tier is [minimum orders, fen off per order].", tier=i)
        n, off = int(pair[0]), int(pair[1])
        if n < 2 or off <= 0:
            raise Invalid("campaign.tiers_invalid", "A tier needs at least 2 orders and a positive amount off.", tier=i)
        if out and (n <= out[-1][0] or off <= out[-1][1]):
            raise Invalid("campaign.tiers_not_ascending", "Each tier needs more orders and gives more off than the one before.", tier=i)
        out.append((n, off))
    return out


def tier_for(tiers: list[tuple[int, int]], orders: int) -> tuple[int, int] | None:
    """The highest tier ``orders`` reaches, or None."""
    reached = [t for t in tiers if orders >= t[0]]
    return reached[-1] if reached else None


def next_tier(tiers: list[tuple[int, int]], orders: int) -> tuple[int, int] | None:
    ahead = [t for t in tiers if orders < t[0]]
    return ahead[0] if ahead else None


class Phase(StrEnum):
    upcoming = "upcoming"
    live = "live"
    ended = "ended"


def phase(starts_at: datetime, ends_at: datetime, status: str, now: datetime, *, early_minutes: int = 0) -> Phase:
    """The campaign's phase for one member: ``early_minutes`` is their head start (a member
    with early access: the campaign's ``early_access_minutes``; everyone else 0)."""
    if status != "active" or now >= ends_at:
        return Phase.ended
    return Phase.upcoming if now < starts_at - timedelta(minutes=early_minutes) else Phase.live


def in_early_window(starts_at: datetime, early_access_minutes: int, now: datetime) -> bool:
    """Whether ``now`` is in the early-access window: before the start, within its minutes."""
    return early_access_minutes > 0 and starts_at - timedelta(minutes=early_access_minutes) <= now < starts_at


def require_open(starts_at: datetime, ends_at: datetime, status: str, now: datetime, kind: str, *, early_minutes: int = 0) -> None:
    p = phase(starts_at, ends_at, status, now, early_minutes=early_minutes)
    if p is Phase.upcoming:
        raise Conflict("campaign.not_started", "This campaign has not started yet.", starts_at=starts_at.isoformat())
    if p is Phase.ended:
        code = "campaign.cutoff_passed" if kind == Kind.presale else "campaign.ended"
        raise Conflict(code, "Orders for this campaign are closed.", ends_at=ends_at.isoformat())


@dataclass(frozen=True)
class OfferView:
    id: int
    sku_id: int
    price: int
    quota: int | None
    sold: int
    limit_per_member: int | None
    community_id: int | None
    leader_id: int | None


def eligible(o: OfferView, community_id: int | None, code_owner_id: int | None) -> bool:
    return (o.community_id is None or o.community_id == community_id) and (o.leader_id is None or o.leader_id == code_owner_id)


def candidates(offers: list[OfferView], sku_id: int, community_id: int | None, code_owner_id: int | None) -> list[OfferView]:
    """The offers of one SKU this buyer may take, cheapest first (the buyer gets the best
    price they are entitled to; when its quota is gone the next one applies). Raises a
    clear code when the SKU is in the campaign but nothing is open to this buyer."""
    of_sku = [o for o in offers if o.sku_id == sku_id]
    if not of_sku:
        raise Invalid("campaign.sku_not_in_campaign", "This item is not part of the campaign.", sku_id=sku_id)
    ok = [o for o in of_sku if eligible(o, community_id, code_owner_id)]
    if not ok:
        if all(o.community_id is not None and o.community_id != community_id for o in of_sku):
            raise Forbidden("campaign.community_only", "This offer is for residents of another community.", sku_id=sku_id)
        raise Forbidden("campaign.code_required", "This offer is for neighbours who entered through their leader's code.", sku_id=sku_id)
    return sorted(ok, key=lambda o: (o.price, o.id))
