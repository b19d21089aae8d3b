"""Referral use cases: invite codes, bindings, attribution chains, sharers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from linli import edge, events
from linli.community import service as community
from linli.db import is_unique_violation
from linli.edge import EdgeFacts
from linli.errors import Conflict, Forbidden, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.referral import rules
from linli.referral.events import CodeShared, CodeVisited, MemberBound, SharerActivated, SharerSuspended
from linli.referral.models import Binding, InviteCode, ReferralSettings, Sharer
from linli.referral.rules import BindMode, ChainLink, SharerMode, SharerPath

MAX_DEPTH = 64  # bindings form a forest; this bounds a walk even on corrupt data


# The settings' defaults and bounds, for other domains' forms and wire schemas (the
# commission rule set edits them).
SETTINGS = rules.SETTINGS


def settings_for(s: Session, merchant_id: int) -> ReferralSettings:
    row = s.get(ReferralSettings, merchant_id)
    return row or ReferralSettings(merchant_id=merchant_id, **SETTINGS.defaults())


def configure(s: Session, merchant_id: int, *, bind_mode: str, protection_days: int, sharer_mode: str, spend_threshold: int) -> ReferralSettings:
    """Called by the commission rule-set use case (which checks the caller's role). A value
    outside ``rules.SETTINGS`` is refused here (its code names it) and nothing is written."""
    SETTINGS.check({"bind_mode": bind_mode, "sharer_mode": sharer_mode, "protection_days": protection_days, "spend_threshold": spend_threshold})
    if SharerMode(sharer_mode) == SharerMode.spend_threshold and spend_threshold <= 0:
        raise Invalid("referral.threshold_required", "Set the spend threshold (fen) for this sharer mode.")
    row = s.get(ReferralSettings, merchant_id)
    if row is None:
        row = ReferralSettings(merchant_id=merchant_id)
        s.add(row)
    row.bind_mode, row.protection_days, row.sharer_mode, row.spend_threshold = bind_mode, protection_days, sharer_mode, spend_threshold
    s.flush()
    return row


# --- codes -----------------------------------------------------------------------------------


def my_code(s: Session, member_id: int, merchant_id: int, now: datetime, *, campaign_id: int | None = None) -> InviteCode:
    """The member's personal code at a merchant (or a leader's campaign code), made once."""
    identity.public_merchant(s, merchant_id)
    kind = "campaign" if campaign_id else "personal"
    stmt = select(InviteCode).where(InviteCode.merchant_id == merchant_id, InviteCode.member_id == member_id, InviteCode.kind == kind)
    stmt = stmt.where(InviteCode.campaign_id == campaign_id) if campaign_id else stmt.where(InviteCode.campaign_id.is_(None))
    row = s.scalars(stmt).first()
    if row is not None:
        return row
    for _ in range(10):
        try:
            with s.begin_nested():
                row = InviteCode(code=rules.new_code(), merchant_id=merchant_id, member_id=member_id, kind=kind, campaign_id=campaign_id, created_at=now)
                s.add(row)
            return row
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            existing = s.scalars(stmt).first()  # a concurrent request made it
            if existing is not None:
                return existing
    raise Conflict("invite.code_exhausted", "Could not create an invite code; try again.")


def campaign_code(s: Session, member_id: int, merchant_id: int, campaign_id: int, now: datetime) -> InviteCode:
    """A leader's per-campaign code (团长专属码); only leaders of the merchant get one."""
    if not any(c.merchant_id == merchant_id for c in community.communities_led_by(s, member_id)):
        raise Forbidden("invite.leaders_only", "Campaign codes are for the shop's community leaders.")
    return my_code(s, member_id, merchant_id, now, campaign_id=campaign_id)


def resolve_code(s: Session, raw: str | None) -> InviteCode:
    code = rules.normalise_code(raw)
    row = s.scalars(select(InviteCode).where(InviteCode.code == code)).first() if code else None
    if row is None or not row.enabled:
        raise NotFound("invite.code_unknown", "This invite code does not exist or is no longer valid.")
    return row


def set_code_enabled(s: Session, who: Principal, merchant_id: int, code: str, enabled: bool) -> InviteCode:
    identity.require_permission(s, who, merchant_id, Permission.manage_rules)
    c = rules.normalise_code(code)
    row = s.scalars(select(InviteCode).where(InviteCode.code == c, InviteCode.merchant_id == merchant_id)).first() if c else None
    if row is None:
        raise NotFound("invite.code_unknown", "No such code.")
    row.enabled = enabled
    s.flush()
    return row


# --- bindings --------------------------------------------------------------------------------


def code_visited(s: Session, code: InviteCode, visitor_id: int | None, now: datetime) -> None:
    """Someone opened ``code``'s invite link (counted by the dashboards' funnel)."""
    events.emit(s, CodeVisited(merchant_id=code.merchant_id, sharer_id=code.member_id, code=code.code, campaign_id=code.campaign_id, visitor_id=visitor_id),
                merchant_id=code.merchant_id, at=now)


def code_shared(s: Session, code: InviteCode, product_id: int | None, now: datetime) -> None:
    """The code's owner took a share poster of it (counted by the dashboards' funnel)."""
    events.emit(s, CodeShared(merchant_id=code.merchant_id, sharer_id=code.member_id, code=code.code, product_id=product_id), merchant_id=code.merchant_id, at=now)


def binding_of(s: Session, merchant_id: int, member_id: int) -> tuple[int, datetime] | None:
    """(inviter, bound at) of a member at a merchant, or None when nobody invited them."""
    row = s.execute(select(Binding.inviter_id, Binding.bound_at).where(Binding.merchant_id == merchant_id, Binding.invitee_id == member_id)).first()
    return None if row is None else (row[0], row[1])


def inviter_of(s: Session, merchant_id: int, member_id: int) -> int | None:
    return s.scalars(select(Binding.inviter_id).where(Binding.merchant_id == merchant_id, Binding.invitee_id == member_id)).first()


def ancestors(s: Session, merchant_id: int, member_id: int, depth: int = MAX_DEPTH) -> list[int]:
    """The inviters above a member, nearest first."""
    out: list[int] = []
    current = member_id
    for _ in range(depth):
        up = inviter_of(s, merchant_id, current)
        if up is None or up in out or up == member_id:
            break
        out.append(up)
        current = up
    return out


def bind(
    s: Session, invitee_id: int, raw_code: str | None, now: datetime, *, invitee_is_new: bool = False, merchant_id: int | None = None, edge_facts: EdgeFacts | None = None
) -> Binding | None:
    """Bind the invitee to the code's owner by the merchant's bind mode. Returns the
    binding, or None when nothing changes (same inviter again). ``member.bound`` carries
    the edge of the invitee's request (``edge_facts``, from the login that brought the
    code; else the current request's)."""
    code = resolve_code(s, raw_code)
    if merchant_id is not None and code.merchant_id != merchant_id:
        raise NotFound("invite.code_unknown", "This invite code belongs to another shop.")
    cfg = settings_for(s, code.merchant_id)
    existing = s.scalars(select(Binding).where(Binding.merchant_id == code.merchant_id, Binding.invitee_id == invitee_id)).first()
    try:
        write = rules.decide_binding(
            invitee_id=invitee_id,
            inviter_id=code.member_id,
            mode=BindMode(cfg.bind_mode),
            existing=rules.Existing(existing.inviter_id, existing.bound_at) if existing else None,
            ancestors_of_inviter=ancestors(s, code.merchant_id, code.member_id),
            invitee_is_new=invitee_is_new,
            now=now,
            protection_days=cfg.protection_days,
        )
    except rules.Refusal as r:
        raise Conflict(r.code, r.detail) from None
    if not write:
        return None
    if existing is None:
        try:
            with s.begin_nested():
                b = Binding(merchant_id=code.merchant_id, invitee_id=invitee_id, inviter_id=code.member_id, via_code=code.code, bound_at=now)
                s.add(b)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise Conflict("binding.exists", "You are already bound to another inviter.") from None
    else:
        previous = existing.inviter_id
        moved = s.execute(
            update(Binding).where(Binding.id == existing.id, Binding.inviter_id == previous).values(inviter_id=code.member_id, via_code=code.code, bound_at=now, rebinds=Binding.rebinds + 1)
        ).rowcount
        if moved != 1:
            raise Conflict("binding.changed", "The binding changed meanwhile; try again.")
        s.refresh(existing)
        b = existing
    events.emit(s, MemberBound(merchant_id=code.merchant_id, invitee_id=invitee_id, inviter_id=code.member_id, code=code.code, **edge.stamp(edge_facts)), merchant_id=code.merchant_id, at=now)
    return b


def team(s: Session, who: Principal, merchant_id: int, levels: int = 2) -> list[list[int]]:
    """The caller's downline by level (level 1 = people they invited)."""
    layers: list[list[int]] = []
    frontier = [who.member_id]
    for _ in range(levels):
        if not frontier:
            break
        nxt = list(s.scalars(select(Binding.invitee_id).where(Binding.merchant_id == merchant_id, Binding.inviter_id.in_(frontier)).order_by(Binding.id)))
        layers.append(nxt)
        frontier = nxt
    return layers


# --- sharers ---------------------------------------------------------------------------------


def _sharer(s: Session, merchant_id: int, member_id: int) -> Sharer | None:
    return s.scalars(select(Sharer).where(Sharer.merchant_id == merchant_id, Sharer.member_id == member_id)).first()


def sharer_status(s: Session, merchant_id: int, member_id: int) -> str:
    row = _sharer(s, merchant_id, member_id)
    return row.status if row else "none"


def active_sharers(s: Session, merchant_id: int, member_ids: list[int]) -> set[int]:
    if not member_ids:
        return set()
    return set(s.scalars(select(Sharer.member_id).where(Sharer.merchant_id == merchant_id, Sharer.member_id.in_(member_ids), Sharer.status == "active")))


def _eligible(s: Session, cfg: ReferralSettings, member_id: int) -> bool:
    mode = SharerMode(cfg.sharer_mode)
    if mode == SharerMode.everyone:
        return True
    received, spend = orders.received_spend(s, member_id, cfg.merchant_id)
    if mode == SharerMode.everyone_after_purchase:
        return received >= 1
    if mode == SharerMode.spend_threshold:
        return spend >= cfg.spend_threshold
    return False


def _put(s: Session, merchant_id: int, member_id: int, status: str, now: datetime, note: str | None = None) -> Sharer:
    row = _sharer(s, merchant_id, member_id)
    if row is None:
        row = Sharer(merchant_id=merchant_id, member_id=member_id, status=status, note=note, created_at=now, decided_at=now if status != "applied" else None)
        s.add(row)
    else:
        row.status, row.note, row.decided_at = status, note, now
    s.flush()
    if status == "active":
        events.emit(s, SharerActivated(merchant_id=merchant_id, member_id=member_id), merchant_id=merchant_id, at=now)
    return row


def _claim(s: Session, merchant_id: int, member_id: int, status: str, now: datetime) -> Sharer:
    """``apply``'s write, by compare-and-set: a new row, or a rejected one reopened. Of
    taps at the same instant (a double tap) exactly one writes and emits; the others get
    the row it wrote."""
    row = _sharer(s, merchant_id, member_id)
    if row is None:
        try:
            with s.begin_nested():
                row = Sharer(merchant_id=merchant_id, member_id=member_id, status=status, created_at=now, decided_at=now if status != "applied" else None)
                s.add(row)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            return s.scalars(select(Sharer).where(Sharer.merchant_id == merchant_id, Sharer.member_id == member_id).execution_options(populate_existing=True)).one()
    else:
        moved = s.execute(
            update(Sharer).where(Sharer.id == row.id, Sharer.status == "rejected").values(status=status, note=None, decided_at=now)
        ).rowcount
        s.refresh(row)
        if moved != 1:
            return row
    s.flush()
    if status == "active":
        events.emit(s, SharerActivated(merchant_id=merchant_id, member_id=member_id), merchant_id=merchant_id, at=now)
    return row


def sharer_path(s: Session, merchant_id: int, member_id: int) -> tuple[SharerPath, ReferralSettings]:
    """Where the member stands on the way to becoming a sharer here (what ``apply`` would
    do), with the settings that say why (e.g. the spend threshold)."""
    cfg = settings_for(s, merchant_id)
    status = sharer_status(s, merchant_id, member_id)
    mode = SharerMode(cfg.sharer_mode)
    needs_orders = status not in ("active", "applied", "suspended") and mode in (SharerMode.everyone_after_purchase, SharerMode.spend_threshold)
    return rules.sharer_path(mode, status, needs_orders and _eligible(s, cfg, member_id)), cfg


def apply(s: Session, member_id: int, merchant_id: int, now: datetime) -> Sharer:
    """Become a sharer (分享官). Never costs money; the mode decides whether at once,
    after a received order, above a spend threshold, or after staff review."""
    identity.public_merchant(s, merchant_id)
    cfg = settings_for(s, merchant_id)
    row = _sharer(s, merchant_id, member_id)
    if row is not None and row.status in ("active", "applied"):
        return row
    if row is not None and row.status == "suspended":
        raise Forbidden("sharer.suspended", "Your sharer account is suspended; contact the shop.")
    mode = SharerMode(cfg.sharer_mode)
    if mode == SharerMode.approval:
        return _claim(s, merchant_id, member_id, "applied", now)
    if mode == SharerMode.invited:
        raise Forbidden("sharer.invite_only", "This shop appoints its sharers; ask the shop to invite you.")
    if not _eligible(s, cfg, member_id):
        if mode == SharerMode.spend_threshold:
            raise Conflict("sharer.not_eligible", "Your received orders have not reached the spend threshold yet.", threshold=cfg.spend_threshold)
        raise Conflict("sharer.not_eligible", "Become a sharer after your first order is received.")
    return _claim(s, merchant_id, member_id, "active", now)


def promote_if_eligible(s: Session, merchant_id: int, member_id: int, now: datetime) -> bool:
    """After a received order: automatic sharer status in the purchase-based modes."""
    cfg = settings_for(s, merchant_id)
    if SharerMode(cfg.sharer_mode) not in (SharerMode.everyone_after_purchase, SharerMode.spend_threshold):
        return False
    row = _sharer(s, merchant_id, member_id)
    if row is not None and row.status != "applied":
        return False
    if not _eligible(s, cfg, member_id):
        return False
    _put(s, merchant_id, member_id, "active", now)
    return True


STAFF_ACTIONS = {"approve": ("applied",), "reject": ("applied",), "suspend": ("active",), "reinstate": ("suspended",)}
RESULT = {"approve": "active", "reject": "rejected", "suspend": "suspended", "reinstate": "active"}


def decide(s: Session, who: Principal, merchant_id: int, member_id: int, action: str, now: datetime, note: str | None = None) -> Sharer:
    identity.require_permission(s, who, merchant_id, Permission.manage_rules)
    if action not in STAFF_ACTIONS:
        raise Invalid("sharer.action_invalid", f"Action is one of {', '.join(STAFF_ACTIONS)}.")
    row = _sharer(s, merchant_id, member_id)
    if row is None or row.status not in STAFF_ACTIONS[action]:
        raise Conflict("sharer.bad_state", f"Cannot {action} a sharer who is {row.status if row else 'not a sharer'}.")
    if action == "suspend":
        return suspend(s, merchant_id, member_id, now, note)
    return _put(s, merchant_id, member_id, RESULT[action], now, note)


def suspend(s: Session, merchant_id: int, member_id: int, now: datetime, note: str | None = None) -> Sharer:
    """Suspend a sharer (staff through ``decide``, or a risk case's decision, which checked
    its own permission): they earn nothing new and cannot withdraw; ``sharer.suspended``
    holds their frozen commission. Suspending a suspended sharer changes nothing."""
    row = _sharer(s, merchant_id, member_id)
    if row is not None and row.status == "suspended":
        return row
    row = _put(s, merchant_id, member_id, "suspended", now, note)
    events.emit(s, SharerSuspended(merchant_id=merchant_id, member_id=member_id), merchant_id=merchant_id, at=now)
    return row


def make_leader_sharer(s: Session, merchant_id: int, member_id: int, now: datetime) -> None:
    if sharer_status(s, merchant_id, member_id) not in ("active", "suspended"):
        _put(s, merchant_id, member_id, "active", now, "community leader")


def appoint(s: Session, who: Principal, merchant_id: int, phone: str, now: datetime) -> Sharer:
    """Staff make someone a sharer directly (the ``invited`` mode, or any mode)."""
    identity.require_permission(s, who, merchant_id, Permission.manage_rules)
    m = identity.get_or_create_member(s, phone, now)
    return _put(s, merchant_id, m.id, "active", now, "appointed")


def list_sharers(s: Session, who: Principal, merchant_id: int, status: str | None = None) -> list[Sharer]:
    identity.require_permission(s, who, merchant_id, Permission.view)
    stmt = select(Sharer).where(Sharer.merchant_id == merchant_id).order_by(Sharer.id.desc())
    if status:
        stmt = stmt.where(Sharer.status == status)
    return list(s.scalars(stmt))


# --- attribution -----------------------------------------------------------------------------


def attribution_chain(s: Session, merchant_id: int, buyer_id: int, invite_code: str | None, levels: int, self_purchase: bool) -> list[ChainLink]:
    """Who earns on an order, nearest first: the code the buyer came with for this order
    (session attribution) decides level 1, else the buyer's own binding; with
    self-purchase on, a buying sharer is their own level 1."""
    cfg = settings_for(s, merchant_id)
    first: int | None = None
    if self_purchase and sharer_status(s, merchant_id, buyer_id) == "active":
        first = buyer_id
    elif invite_code and cfg.session_attribution:
        code = rules.normalise_code(invite_code)
        row = s.scalars(select(InviteCode).where(InviteCode.code == code, InviteCode.merchant_id == merchant_id, InviteCode.enabled.is_(True))).first() if code else None
        # A leader's campaign code pays the leader's share (campaign_leader), not level 1.
        if row is not None and row.kind == "personal" and row.member_id != buyer_id:
            first = row.member_id
    if first is None:
        first = inviter_of(s, merchant_id, buyer_id)
    if first is None:
        return []
    chain = [first] + ancestors(s, merchant_id, first, depth=levels - 1)
    active = active_sharers(s, merchant_id, chain)
    return [ChainLink(m, m in active) for m in chain[:levels]]


def campaign_leader(s: Session, merchant_id: int, invite_code: str | None, campaign_id: int | None) -> int | None:
    """The leader whose code for *this* campaign the order came through, if any. A campaign
    code is per campaign (RULES.md): on an order outside that campaign — a plain order, or
    one placed long after the campaign ended — it names no one, and the community's leader
    keeps their share."""
    code = rules.normalise_code(invite_code)
    if not code or campaign_id is None:
        return None
    return s.scalars(select(InviteCode.member_id).where(InviteCode.code == code, InviteCode.merchant_id == merchant_id, InviteCode.kind == "campaign",
                                                       InviteCode.campaign_id == campaign_id, InviteCode.enabled.is_(True))).first()


def code_owner(s: Session, raw: str | None) -> int | None:
    """Who owns a code as typed (None if it is unknown)."""
    code = rules.normalise_code(raw)
    return code_owners(s, [code]).get(code) if code else None


def personal_code_owners(s: Session, merchant_id: int, codes: list[str]) -> dict[str, int]:
    """Who owns each of these codes among the merchant's enabled personal codes — the ones
    that pay their owner level 1 (``attribution_chain``); a leader's campaign code, which
    pays the leader's share, is left out."""
    if not codes:
        return {}
    return dict(s.execute(
        select(InviteCode.code, InviteCode.member_id)
        .where(InviteCode.code.in_(codes), InviteCode.merchant_id == merchant_id, InviteCode.kind == "personal", InviteCode.enabled.is_(True))
    ).all())


def code_owners(s: Session, codes: list[str]) -> dict[str, int]:
    """Who owns each of these codes (for boards that group sales by code)."""
    if not codes:
        return {}
    return dict(s.execute(select(InviteCode.code, InviteCode.member_id).where(InviteCode.code.in_(codes))).all())
