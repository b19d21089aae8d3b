"""The starter kit (新手礼包, seed 003: "所有新晋分享官,都会收到一份包含推广指南、素材包和10元无门槛券
的新手礼包"): when a member becomes an active sharer (``sharer.activated``), they receive it
once per (merchant, member) — the row's key — so a reinstatement, a second approval or a
replayed event gives nothing more.

What is in it: the coupon of the template the merchant set (``BadgeSettings.starter_template_id``,
granted through the rewards domain's keyed grant ``incentive-starter-<merchant>-<member>``;
a template that can give none — ended, sold out, withdrawn — is recorded as the kit's
``failure``, and a shop with none set gives the kit without a coupon), the merchant's guide
(or the default one) and the material kit (the sharer's invite link and posters), shown in
the sharer centre until dismissed or for ``badge_rules.KIT_DAYS`` days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli.db import insert_ignore
from linli.errors import Conflict, NotFound
from linli.identity import service as identity
from linli.incentives import badge_rules
from linli.incentives.badges import settings_of
from linli.incentives.models import StarterKit
from linli.referral.events import SharerActivated
from linli.rewards import coupons


def key_of(merchant_id: int, member_id: int) -> str:
    return f"incentive-starter-{merchant_id}-{member_id}"


def on_activated(s: Session, p: SharerActivated, now: datetime) -> StarterKit | None:
    """Give the kit, once: None when the member had it already."""
    row = {"merchant_id": p.merchant_id, "member_id": p.member_id, "given_at": now}
    if s.execute(insert_ignore(s, StarterKit, row, ["merchant_id", "member_id"]).returning(StarterKit.member_id)).scalar() is None:
        return None
    kit = s.get(StarterKit, (p.merchant_id, p.member_id))
    template_id = settings_of(s, p.merchant_id).starter_template_id
    if template_id is not None:
        kit.template_id = template_id
        try:  # a race with the member's other grants raises GrantContended: the handler is retried
            kit.coupon_id = coupons.grant_keyed(s, template_id, p.member_id, "reward", key_of(p.merchant_id, p.member_id), now, member_limit=False).id
        except Conflict as exc:
            kit.failure = exc.code
    s.flush()
    return kit


@dataclass(frozen=True)
class Kit:
    given_at: datetime
    shown: bool
    guide: str  # the merchant's; "" = the default guide (the page's language)
    coupon_name: str | None
    coupon_valid_to: datetime | None
    coupon_used: bool
    failure: str | None


def mine(s: Session, member_id: int, merchant_id: int, now: datetime) -> Kit | None:
    """The member's kit at the shop (None if they never became a sharer since kits exist)."""
    identity.public_merchant(s, merchant_id)
    kit = s.get(StarterKit, (merchant_id, member_id))
    if kit is None:
        return None
    name = valid_to = None
    used = False
    if kit.coupon_id is not None:
        for c, t in coupons.my_coupons(s, member_id, merchant_id, now):
            if c.id == kit.coupon_id:
                name, valid_to, used = t.name, c.valid_to, coupons.status_of(c, now) != "unused"
    return Kit(kit.given_at, badge_rules.kit_shown(kit.given_at, kit.dismissed_at, now), settings_of(s, merchant_id).starter_guide, name, valid_to, used, kit.failure)


def dismiss(s: Session, member_id: int, merchant_id: int, now: datetime) -> None:
    """Hide the kit from the sharer centre (dismissing again changes nothing)."""
    identity.public_merchant(s, merchant_id)
    if s.scalars(select(StarterKit.member_id).where(StarterKit.merchant_id == merchant_id, StarterKit.member_id == member_id)).first() is None:
        raise NotFound("starter.not_found", "You have no starter kit at this shop.")
    s.execute(update(StarterKit).where(StarterKit.merchant_id == merchant_id, StarterKit.member_id == member_id, StarterKit.dismissed_at.is_(None)).values(dismissed_at=now))
