"""Badges: a member's badges at a merchant, granted and revoked by the facts that move them
(``badge_rules`` decides; RULES.md "Growth incentives" → Badges and tiers).

The event path: a referred sale whose net moved (``sales.SaleChange``, in the sale handlers'
transaction) and a granted referral (``referral.granted``) each ``evaluate`` the member who
brought it. ``evaluate`` locks the member's row in ``badge_turns`` first, then reads the
member's facts, so two sales of one sharer handled at once never each miss the other's GMV
(on PostgreSQL the second waits, then reads what the first committed). It grants or revokes
each badge whose ``held`` changed, once: a replayed event finds the badge as it should be
and changes nothing. Each change emits ``badge.granted`` / ``badge.revoked``.

The nightly backfill (``badge_backfill``) reads every member's facts at once, compares them
with the badges held and has ``evaluate`` repair the members who differ, so it agrees with
the event path by construction; a test runs both.

A threshold the merchant changes applies to each member at their next sale or referral and
to everyone at the next nightly check (it is one rule: the settings in force).

The privileges of 社区推荐官: ``holds`` (first access to trials: the campaigns' port asks it),
``recommender_code`` (a leader's campaign code, reusing referral's per-campaign codes, so
orders through it pay the leader's share) and ``group`` (the merchant's recommender group).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli import events
from linli.campaigns import rules as campaign_rules
from linli.campaigns import service as campaigns
from linli.commission import service as commission
from linli.db import insert_ignore
from linli.errors import Conflict, Forbidden, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission, mask_phone
from linli.identity.service import Principal
from linli.incentives import badge_rules
from linli.incentives.badge_rules import RECOMMENDER, SETTINGS, Badge, Facts
from linli.incentives.events import BadgeGranted, BadgeRevoked, ReferralGranted
from linli.incentives.models import BadgeSettings, BadgeTurn, MemberBadge, ProgrammeReferral, ReferredSale
from linli.incentives.sales import SaleChange
from linli.referral import service as referral
from linli.rewards import levels

# --- settings ---------------------------------------------------------------------------------------


def settings_of(s: Session, merchant_id: int) -> BadgeSettings:
    """The merchant's row, or the defaults (not added to the session)."""
    row = s.get(BadgeSettings, merchant_id)
    return row if row is not None else BadgeSettings(merchant_id=merchant_id, group_name="", group_link="", group_text="", starter_guide="", **SETTINGS.defaults())


def thresholds(cfg: BadgeSettings) -> dict[str, int]:
    return {name: getattr(cfg, name) for name in SETTINGS.names}


def catalogue_of(s: Session, merchant_id: int) -> tuple[Badge, ...]:
    return badge_rules.catalogue(thresholds(settings_of(s, merchant_id)))


def settings(s: Session, who: Principal, merchant_id: int) -> BadgeSettings:
    """The settings as the console reads them (staff with ``view``)."""
    identity.require_permission(s, who, merchant_id, Permission.view)
    return settings_of(s, merchant_id)


TEXTS = ("group_name", "group_link", "group_text", "starter_guide")


def configure(s: Session, who: Principal, merchant_id: int, changes: Mapping[str, Any], now: datetime) -> BadgeSettings:
    """Change some settings: thresholds (``SETTINGS``, the tiers increasing), the recommender
    group, the starter coupon (``starter_template_id``: one of the shop's that can still be
    given, or None for none) and its guide (``""`` = the default). Everything is checked as
    it will be before anything is written."""
    identity.require_permission(s, who, merchant_id, Permission.manage_campaigns)
    # The row is made once (at the defaults) and locked, so two saves at the same instant (a
    # double tap on the shop's first save) run in turn instead of both inserting it.
    s.execute(insert_ignore(s, BadgeSettings, {"merchant_id": merchant_id}, ["merchant_id"]))
    cfg = s.scalars(select(BadgeSettings).where(BadgeSettings.merchant_id == merchant_id).with_for_update().execution_options(populate_existing=True)).one()
    known = set(SETTINGS.names) | set(TEXTS) | {"starter_template_id"}
    for name in changes:
        if name not in known:
            raise Invalid("badge.settings_invalid", f"There is no setting {name}.", field=name)
    will = {name: changes.get(name, getattr(cfg, name)) for name in known}
    badge_rules.check_settings({k: will[k] for k in SETTINGS.names})
    will.update({k: (will[k] or "").strip() for k in TEXTS})
    badge_rules.check_group(will["group_name"], will["group_link"], will["group_text"])
    badge_rules.check_guide(will["starter_guide"])
    if "starter_template_id" in changes and will["starter_template_id"] is not None:
        t = levels.check_template(s, merchant_id, will["starter_template_id"], code="starter.template_unknown", field="starter_template_id")
        if not t.active or (t.valid_to is not None and t.valid_to <= now) or t.issued >= t.total:
            raise Conflict("starter.template_unavailable", "This coupon can no longer be given (deactivated, ended or all given).", field="starter_template_id")
    for name in known:
        setattr(cfg, name, will[name])
    cfg.updated_at = now
    s.flush()
    return cfg


# --- facts and evaluation ---------------------------------------------------------------------------


def _referral_times(s: Session, merchant_id: int, member_ids: list[int] | None) -> dict[int, tuple[datetime, ...]]:
    """Inviter → when each friend's referral was first granted, oldest first."""
    q = (select(ProgrammeReferral.inviter_id, ProgrammeReferral.invitee_id, func.min(ProgrammeReferral.granted_at))
         .where(ProgrammeReferral.merchant_id == merchant_id, ProgrammeReferral.status == "granted", ProgrammeReferral.granted_at.is_not(None))
         .group_by(ProgrammeReferral.inviter_id, ProgrammeReferral.invitee_id))
    if member_ids is not None:
        q = q.where(ProgrammeReferral.inviter_id.in_(member_ids))
    out: dict[int, list[datetime]] = {}
    for inviter, _invitee, at in s.execute(q):
        out.setdefault(inviter, []).append(at)
    return {m: tuple(sorted(ts)) for m, ts in out.items()}


def _sales(s: Session, merchant_id: int, member_ids: list[int] | None) -> dict[int, tuple[int, int]]:
    """Sharer → (sales with a net above 0, referred GMV in fen)."""
    q = (select(ReferredSale.sharer_id, func.count(ReferredSale.order_id).filter(ReferredSale.net > 0), func.coalesce(func.sum(ReferredSale.net), 0))
         .where(ReferredSale.merchant_id == merchant_id).group_by(ReferredSale.sharer_id))
    if member_ids is not None:
        q = q.where(ReferredSale.sharer_id.in_(member_ids))
    return {m: (int(n), int(gmv)) for m, n, gmv in s.execute(q)}


def facts_of(s: Session, merchant_id: int, member_ids: list[int] | None = None) -> dict[int, Facts]:
    """Member → their facts, for ``member_ids`` or (None) every member who has any."""
    times, sold = _referral_times(s, merchant_id, member_ids), _sales(s, merchant_id, member_ids)
    return {m: Facts(times.get(m, ()), *sold.get(m, (0, 0))) for m in set(times) | set(sold)}


def facts(s: Session, merchant_id: int, member_id: int) -> Facts:
    return facts_of(s, merchant_id, [member_id]).get(member_id, Facts())


@dataclass(frozen=True)
class Change:
    member_id: int
    badge: str
    granted: bool  # False: revoked


def _lock(s: Session, merchant_id: int, member_id: int) -> None:
    q = select(BadgeTurn.member_id).where(BadgeTurn.merchant_id == merchant_id, BadgeTurn.member_id == member_id).with_for_update()
    if s.scalars(q).first() is None:
        s.execute(insert_ignore(s, BadgeTurn, {"merchant_id": merchant_id, "member_id": member_id}, ["merchant_id", "member_id"]))
        s.scalars(q).first()


def evaluate(s: Session, merchant_id: int, member_id: int, now: datetime, source: str = "event") -> list[Change]:
    """Grant or revoke the member's badges as their facts say, under the member's turn."""
    _lock(s, merchant_id, member_id)
    f = facts(s, merchant_id, member_id)
    rows = {r.badge: r for r in s.scalars(select(MemberBadge).where(MemberBadge.merchant_id == merchant_id, MemberBadge.member_id == member_id))}
    changes = []
    for b in catalogue_of(s, merchant_id):
        row = rows.get(b.code)
        now_held = row is not None and row.status == "held"
        should = badge_rules.held(b, f, now_held)
        if should == now_held:
            continue
        if row is None:
            row = MemberBadge(merchant_id=merchant_id, member_id=member_id, badge=b.code)
            s.add(row)
        row.status, row.source = ("held" if should else "revoked"), source
        if should:
            row.granted_at, row.revoked_at = now, None
        else:
            row.revoked_at = now
        kind = BadgeGranted if should else BadgeRevoked
        events.emit(s, kind(merchant_id=merchant_id, member_id=member_id, badge=b.code, source=source, value=badge_rules.value(b, f, now), threshold=b.threshold, at=now),
                    merchant_id=merchant_id, at=now)
        changes.append(Change(member_id, b.code, should))
    s.flush()
    return changes


def on_sale(s: Session, change: SaleChange, now: datetime) -> list[Change]:
    """A referred sale's net moved: its sharer's badges (a refund may revoke one)."""
    return evaluate(s, change.sale.merchant_id, change.sale.sharer_id, now)


def on_referral_granted(s: Session, p: ReferralGranted, now: datetime) -> list[Change]:
    return evaluate(s, p.merchant_id, p.inviter_id, now)


# --- reading ------------------------------------------------------------------------------------------


def holds(s: Session, merchant_id: int, member_id: int, code: str) -> bool:
    """Whether the member holds the badge now (``holds(s, mid, member, "recommender")``:
    first access to trials)."""
    q = select(MemberBadge.id).where(MemberBadge.merchant_id == merchant_id, MemberBadge.member_id == member_id, MemberBadge.badge == code, MemberBadge.status == "held")
    return s.scalars(q).first() is not None


def in_good_standing(s: Session, merchant_id: int, member_id: int) -> bool:
    """Not suspended as a sharer and under no hold (a risk case): the badge stays, its
    privileges wait until the case closes."""
    return referral.sharer_status(s, merchant_id, member_id) != "suspended" and not commission.is_held(s, merchant_id, member_id)


def privileged(s: Session, merchant_id: int, member_id: int) -> bool:
    """Whether the member may use 社区推荐官's privileges now: holds it and is in good standing."""
    return holds(s, merchant_id, member_id, RECOMMENDER) and in_good_standing(s, merchant_id, member_id)


def recommender_early_access(s: Session, merchant_id: int, member_id: int) -> bool:
    """campaigns' ``early_access`` port: a 社区推荐官 in good standing enters a campaign's
    early-access minutes."""
    return privileged(s, merchant_id, member_id)


@dataclass(frozen=True)
class Held:
    badge: Badge
    granted_at: datetime


@dataclass(frozen=True)
class Progress:
    badge: Badge
    value: int
    target: int


@dataclass(frozen=True)
class Group:
    name: str
    link: str
    text: str


@dataclass(frozen=True)
class Mine:
    held: list[Held]
    progress: list[Progress]  # toward each badge not held, in catalogue order
    group: Group | None  # the recommender group: holders of 社区推荐官 only, when the shop has one


def mine(s: Session, member_id: int, merchant_id: int, now: datetime) -> Mine:
    identity.public_merchant(s, merchant_id)
    cfg = settings_of(s, merchant_id)
    f = facts(s, merchant_id, member_id)
    rows = {r.badge: r for r in s.scalars(select(MemberBadge).where(MemberBadge.merchant_id == merchant_id, MemberBadge.member_id == member_id, MemberBadge.status == "held"))}
    cat = badge_rules.catalogue(thresholds(cfg))
    held = [Held(b, rows[b.code].granted_at) for b in cat if b.code in rows]
    progress = [Progress(b, badge_rules.value(b, f, now), b.threshold) for b in cat if b.code not in rows]
    group = Group(cfg.group_name, cfg.group_link, cfg.group_text) if RECOMMENDER in rows and cfg.group_name and in_good_standing(s, merchant_id, member_id) else None
    return Mine(held, progress, group)


@dataclass(frozen=True)
class Holder:
    member_id: int
    nickname: str
    phone_masked: str
    badge: str
    granted_at: datetime
    source: str


def holders(s: Session, who: Principal, merchant_id: int, badge: str | None = None, limit: int = 200) -> list[Holder]:
    """The shop's badge holders, newest grant first (phones masked)."""
    identity.require_permission(s, who, merchant_id, Permission.view)
    q = select(MemberBadge).where(MemberBadge.merchant_id == merchant_id, MemberBadge.status == "held")
    if badge is not None:
        q = q.where(MemberBadge.badge == badge)
    rows = list(s.scalars(q.order_by(MemberBadge.granted_at.desc(), MemberBadge.id.desc()).limit(limit)))
    people = identity.members_by_ids(s, [r.member_id for r in rows])
    return [Holder(r.member_id, people[r.member_id].nickname, mask_phone(people[r.member_id].phone), r.badge, r.granted_at, r.source) for r in rows]


def counts(s: Session, merchant_id: int) -> dict[str, int]:
    """Holders per badge."""
    q = select(MemberBadge.badge, func.count()).where(MemberBadge.merchant_id == merchant_id, MemberBadge.status == "held").group_by(MemberBadge.badge)
    return {code: int(n) for code, n in s.execute(q)}


# --- privileges of 社区推荐官 ------------------------------------------------------------------------


def require_recommender(s: Session, merchant_id: int, member_id: int) -> None:
    identity.public_merchant(s, merchant_id)
    if not holds(s, merchant_id, member_id, RECOMMENDER):
        raise Forbidden("badge.recommender_only", "This is a privilege of the shop's 社区推荐官.")
    if not in_good_standing(s, merchant_id, member_id):
        raise Forbidden("badge.privileges_on_hold", "Your privileges wait until the shop's review of your account closes.")


def recommender_code(s: Session, member_id: int, merchant_id: int, campaign_id: int, now: datetime) -> tuple[Any, Any]:
    """(campaign, code): a holder's code for a campaign of the shop that has not ended — the same per-campaign
    code a leader gets (``referral.my_code``), so orders through it pay the leader's share,
    which commission pays an active sharer only: a holder who is not one is refused
    (``badge.sharer_required``, or ``sharer.suspended``). A code already given stays valid if
    the badge later goes (neighbours hold the link)."""
    require_recommender(s, merchant_id, member_id)
    require_sharer(s, merchant_id, member_id)
    c = campaigns.public_campaign(s, campaign_id)
    if c.merchant_id != merchant_id:
        raise NotFound("campaign.not_found", "No such campaign.")
    if campaign_rules.phase(c.starts_at, c.ends_at, c.status, now) is campaign_rules.Phase.ended:
        raise Conflict("badge.campaign_ended", "This campaign has ended.")
    return c, referral.my_code(s, member_id, merchant_id, now, campaign_id=campaign_id)


def require_sharer(s: Session, merchant_id: int, member_id: int) -> None:
    status = referral.sharer_status(s, merchant_id, member_id)
    if status == "suspended":
        raise Forbidden("sharer.suspended", "Your sharer account is suspended; contact the shop.")
    if status != "active":
        raise Forbidden("badge.sharer_required", "Campaign codes pay a sharer's commission: become a sharer first.")


def open_campaigns(s: Session, merchant_id: int, member_id: int, now: datetime) -> list:
    """The campaigns a holder who is an active sharer can get a code for (running or about
    to start)."""
    require_recommender(s, merchant_id, member_id)
    require_sharer(s, merchant_id, member_id)
    return campaigns.public_campaigns(s, merchant_id, now, limit=20)
