"""Badge endpoints (API.md "Growth incentives" → ``GET /me/badges``): a member's badges and
the progress toward the others, a 社区推荐官's campaign code, the starter kit, and the console's
badge settings and holders. Names are in the caller's language (Accept-Language, zh-CN
first); codes are stable."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Request
from pydantic import Field

from linli import i18n
from linli.errors import NotFound
from linli.incentives import badge_rules, badges, starter_kit
from linli.incentives.badge_pages import BADGE_NAMES, DEFAULT_GUIDE
from linli.incentives.badge_rules import SETTINGS
from linli.schema import Id, Input, Output
from linli.web.deps import DB, Now, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["incentives"])
BADGE = f"^({'|'.join(badge_rules.CODES)})$"


def _gettext(request: Request):
    return i18n.translations(i18n.negotiate(None, request.headers.get("accept-language"))).gettext


class BadgeOut(Output):
    code: str = Field(description="recommender | first_sale | gmv_bronze | gmv_silver | gmv_gold")
    name: str
    granted_at: datetime
    privileges: list[str] = Field(description="trials_first | campaign_code | recommender_group (社区推荐官)")


class ProgressOut(Output):
    code: str
    name: str
    value: int = Field(description="granted referrals within 90 days, sales, or fen of referred GMV")
    target: int
    unit: str = Field(description="referrals | sales | fen")


class GroupOut(Output):
    name: str
    link: str
    text: str


class MyBadgesOut(Output):
    badges: list[BadgeOut]
    progress: list[ProgressOut] = Field(description="toward each badge not held, e.g. 3/5 toward 社区推荐官")
    group: GroupOut | None = Field(description="the recommender group: holders of 社区推荐官 only, when the shop has set one")


@router.get("/me/badges", response_model=MyBadgesOut, responses=PROBLEMS)
def my_badges(request: Request, s: DB, who: Who, now: Now, merchant_id: Annotated[Id, Query()]) -> MyBadgesOut:
    _ = _gettext(request)
    m = badges.mine(s, who.member_id, merchant_id, now)
    unit = {badge_rules.Metric.referrals: "referrals", badge_rules.Metric.sales: "sales", badge_rules.Metric.gmv: "fen"}
    return MyBadgesOut(
        badges=[BadgeOut(code=h.badge.code, name=_(BADGE_NAMES[h.badge.code]), granted_at=h.granted_at, privileges=list(h.badge.privileges)) for h in m.held],
        progress=[ProgressOut(code=p.badge.code, name=_(BADGE_NAMES[p.badge.code]), value=p.value, target=p.target, unit=unit[p.badge.metric]) for p in m.progress],
        group=GroupOut(name=m.group.name, link=m.group.link, text=m.group.text) if m.group else None,
    )


class CampaignCodeOut(Output):
    campaign_id: int
    code: str
    link: str


@router.get("/me/badges/campaign-code", response_model=CampaignCodeOut, responses=PROBLEMS)
def my_campaign_code(request: Request, s: DB, who: Who, now: Now, merchant_id: Annotated[Id, Query()], campaign_id: Annotated[Id, Query()]) -> CampaignCodeOut:
    """A 社区推荐官's code for a campaign that has not ended (the leader's per-campaign code:
    orders through it pay the leader's share). 403 ``badge.recommender_only`` for anyone else."""
    c, code = badges.recommender_code(s, who.member_id, merchant_id, campaign_id, now)
    return CampaignCodeOut(campaign_id=c.id, code=code.code, link=str(request.base_url).rstrip("/") + f"/m/campaigns/{c.id}?code={code.code}")


class StarterKitOut(Output):
    given_at: datetime
    shown: bool = Field(description="shown in the sharer centre: not dismissed, and within 30 days")
    guide: list[str]
    coupon: str | None = Field(description="the starter coupon's name, if one was given")
    coupon_valid_to: datetime | None
    failure: str | None = Field(description="why no coupon was given though the shop set one: coupon.sold_out | coupon.ended | coupon.inactive")


@router.get("/me/starter-kit", response_model=StarterKitOut, responses=PROBLEMS)
def my_starter_kit(request: Request, s: DB, who: Who, now: Now, merchant_id: Annotated[Id, Query()]) -> StarterKitOut:
    kit = starter_kit.mine(s, who.member_id, merchant_id, now)
    if kit is None:
        raise NotFound("starter.not_found", "You have no starter kit at this shop.")
    _ = _gettext(request)
    guide = [g for g in kit.guide.splitlines() if g.strip()] if kit.guide else [_(g) for g in DEFAULT_GUIDE]
    return StarterKitOut(given_at=kit.given_at, shown=kit.shown, guide=guide, coupon=kit.coupon_name, coupon_valid_to=kit.coupon_valid_to, failure=kit.failure)


class DismissIn(Input):
    merchant_id: Id


@router.post("/me/starter-kit/dismiss", status_code=204, responses=PROBLEMS)
def dismiss_starter_kit(body: DismissIn, s: DB, who: Who, now: Now) -> None:
    starter_kit.dismiss(s, who.member_id, body.merchant_id, now)


# --- console ----------------------------------------------------------------------------------------


def _knob(name: str):
    k = SETTINGS[name]
    return Field(default=None, ge=k.lo, le=k.hi)


class BadgeSettingsIn(Input):
    """Fields left out keep their value."""

    recommender_referrals: int | None = _knob("recommender_referrals")
    gmv_bronze: int | None = _knob("gmv_bronze")
    gmv_silver: int | None = _knob("gmv_silver")
    gmv_gold: int | None = _knob("gmv_gold")
    group_name: str | None = Field(default=None, max_length=badge_rules.GROUP_NAME_MAX)
    group_link: str | None = Field(default=None, max_length=badge_rules.GROUP_LINK_MAX)
    group_text: str | None = Field(default=None, max_length=badge_rules.GROUP_TEXT_MAX)
    starter_template_id: Id | None = None
    starter_guide: str | None = Field(default=None, max_length=badge_rules.GUIDE_MAX, description='"" = the default guide')


class BadgeSettingsOut(Output):
    recommender_referrals: int
    gmv_bronze: int
    gmv_silver: int
    gmv_gold: int
    group_name: str
    group_link: str
    group_text: str
    starter_template_id: int | None
    starter_guide: str


def _settings_out(cfg) -> BadgeSettingsOut:
    return BadgeSettingsOut.model_validate(cfg)


@router.get("/merchants/{mid}/badge-settings", response_model=BadgeSettingsOut, responses=PROBLEMS)
def get_badge_settings(mid: Id, s: DB, who: Who) -> BadgeSettingsOut:
    return _settings_out(badges.settings(s, who, mid))


@router.put("/merchants/{mid}/badge-settings", response_model=BadgeSettingsOut, responses=PROBLEMS)
def put_badge_settings(mid: Id, body: BadgeSettingsIn, s: DB, who: Who, now: Now) -> BadgeSettingsOut:
    """Thresholds apply to each member at their next sale or referral, and to everyone at the
    nightly check; a badge that is not revocable (社区推荐官) stays with those who have it."""
    return _settings_out(badges.configure(s, who, mid, body.model_dump(exclude_unset=True), now))


class HolderOut(Output):
    member_id: int
    name: str
    phone_masked: str
    badge: str
    granted_at: datetime
    source: str = Field(description="event | backfill")


@router.get("/merchants/{mid}/badge-holders", response_model=list[HolderOut], responses=PROBLEMS)
def badge_holders(mid: Id, s: DB, who: Who, badge: str | None = Query(default=None, pattern=BADGE)) -> list[HolderOut]:
    return [HolderOut(member_id=h.member_id, name=h.nickname, phone_masked=h.phone_masked, badge=h.badge, granted_at=h.granted_at, source=h.source)
            for h in badges.holders(s, who, mid, badge)]
