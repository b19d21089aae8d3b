"""Coupons the system gives: the new-member coupon (新人尝鲜券) and the birthday coupon.

A new member of a merchant: the event that says a person has become this merchant's
customer. Identity's ``member.joined`` is platform-wide (one person, every merchant), so it
cannot be it. A member becomes a merchant's when they are bound to it by one of its invite
links (referral's ``member.bound``: a first login through a sharer's or leader's link lands
here too) or when they choose one of its communities as their home (community's
``member.community_set``: how a neighbour who came without a link joins the shop). On either,
a member who has never paid an order at this merchant gets the merchant's new-member
coupon, once per (template, member) (key ``new_member:<template>:<member>``): a rebind or a
second community choice gives nothing more, and a customer who has already bought here is
not new. The coupon is set with ``PUT /merchants/{mid}/new-member-coupon``.

The birthday coupon: the daily job gives each member whose birthday is today (Asia/Shanghai;
29 February on the 28th in other years) and who has a level at a merchant the birthday
coupon of that level, or else the merchant's (``PUT /merchants/{mid}/birthday-coupon``),
once a year (key ``birthday:<template>:<member>:<year>``). It is bounded by that key, not by
the template's per-member limit (which counts every coupon a member ever had).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.db import Database, insert_ignore
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.rewards import coupons, levels, rules
from linli.rewards.models import Coupon, MemberLevel, RewardJobRun, RewardSettings
from linli.timeutil import SHANGHAI

BIRTHDAY_JOB = "rewards.birthday_coupons"
CHUNK = 500


def _settings_row(s: Session, merchant_id: int) -> RewardSettings:
    """The merchant's settings row, created with the columns' defaults if it has none."""
    defaults = {c.name: c.default.arg for c in RewardSettings.__table__.columns if c.default is not None and c.default.is_scalar}
    s.execute(insert_ignore(s, RewardSettings, {**defaults, "merchant_id": merchant_id}, ["merchant_id"]))
    return s.get(RewardSettings, merchant_id, populate_existing=True)


def coupon_settings(s: Session, who: Principal, merchant_id: int) -> tuple[int | None, int | None]:
    """(new-member template, birthday template) of the merchant."""
    identity.require_permission(s, who, merchant_id, Permission.view)
    cfg = s.get(RewardSettings, merchant_id)
    return (None, None) if cfg is None else (cfg.new_member_template_id, cfg.birthday_template_id)


def set_new_member_coupon(s: Session, who: Principal, merchant_id: int, template_id: int | None) -> RewardSettings:
    return _set_coupon(s, who, merchant_id, "new_member_template_id", template_id)


def set_birthday_coupon(s: Session, who: Principal, merchant_id: int, template_id: int | None) -> RewardSettings:
    """The merchant's birthday coupon, for members whose level names none of its own."""
    return _set_coupon(s, who, merchant_id, "birthday_template_id", template_id)


def _set_coupon(s: Session, who: Principal, merchant_id: int, column: str, template_id: int | None) -> RewardSettings:
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    if template_id is not None:
        levels.check_template(s, merchant_id, template_id, code="coupon.template_unknown", field="template_id")
    cfg = _settings_row(s, merchant_id)
    setattr(cfg, column, template_id)
    s.flush()
    return cfg


def welcome(s: Session, merchant_id: int, member_id: int, now: datetime) -> Coupon | None:
    """The new-member coupon for a member who just became this merchant's (see above)."""
    cfg = s.get(RewardSettings, merchant_id)
    if cfg is None or cfg.new_member_template_id is None:
        return None
    if orders.has_paid_order(s, member_id, merchant_id):
        return None
    tpl = cfg.new_member_template_id
    return coupons.grant_once(s, tpl, member_id, "new_member", f"new_member:{tpl}:{member_id}", now)


def _birthday_template(s: Session, merchant_id: int, member_id: int) -> int | None:
    lv = levels.in_force(s, merchant_id, member_id)
    if lv is None:
        return None
    if lv.birthday_coupon_template_id is not None:
        return lv.birthday_coupon_template_id
    cfg = s.get(RewardSettings, merchant_id)
    return None if cfg is None else cfg.birthday_template_id


def grant_birthdays(db: Database, as_of: datetime) -> int:
    """Today's birthday coupons, once a day: the day's run is recorded when it has gone
    through everyone (a run interrupted halfway is run again; the keys give each coupon
    once). Returns how many coupons were given."""
    today = as_of.astimezone(SHANGHAI).date()
    with db.transaction() as s:
        if s.get(RewardJobRun, (BIRTHDAY_JOB, today)) is not None:
            return 0
        born = identity.member_ids_born_on(s, rules.birthdays_on(today))
    given = 0
    for i in range(0, len(born), CHUNK):
        with db.transaction() as s:
            q = select(MemberLevel.merchant_id, MemberLevel.member_id).where(MemberLevel.member_id.in_(born[i:i + CHUNK]), MemberLevel.rank.is_not(None))
            for merchant_id, member_id in s.execute(q.order_by(MemberLevel.merchant_id, MemberLevel.member_id)).all():
                tpl = _birthday_template(s, merchant_id, member_id)
                if tpl is None:
                    continue
                key = f"birthday:{tpl}:{member_id}:{today.year}"
                if s.scalars(select(Coupon.id).where(Coupon.grant_key == key)).first() is None:
                    given += coupons.grant_once(s, tpl, member_id, "birthday", key, as_of, member_limit=False) is not None
    with db.transaction() as s:
        s.execute(insert_ignore(s, RewardJobRun, {"job": BIRTHDAY_JOB, "day": today, "done_at": as_of}, ["job", "day"]))
    return given
