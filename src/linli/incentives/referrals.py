"""Referrals: what incentives does when an invitee's orders move (handlers.py calls these),
and a member's own referrals.

The three order handlers of one invitee take turns: each first locks the invitee's row in
``incentive_invitees`` (``turns.take_turn``), so a late receipt and the completion, or a refund and
the completion, never each miss what the other is writing. A referral is judged on its
order's net paid when the after-sales window closed (``order.completed``'s lines; orders'
``completions`` for a receipt or a backstop run that comes after it).

- Received: if this is the invitee's first received order at the shop, paid (net of refunds
  so far, or at completion if it has completed) ≥ the minimum, within ``window_days`` of the
  binding in force at the receipt (``inviter_at``) and while a programme runs, one referral
  per (programme, invitee) (a unique) becomes ``pending`` — if it gets a place under the
  inviter's monthly cap (a compare-and-set on ``ProgrammeCap``, so concurrent qualifying
  orders never pass it); else it is ``voided`` (``monthly_cap``). An order already completed
  is judged at once.
- Completed (the after-sales window closed): ``pending → granted`` by compare-and-set, and in
  the same transaction the rewards, each through the rewards domain's own keyed grant; the
  inviter's granted count goes up by one in one UPDATE, which says which milestone this grant
  reaches (a unique (programme, inviter, count) grants each once). Below the minimum at
  completion: ``voided`` (``refunded``).
- Refunded before completion: a pending referral whose order's net paid is now below the
  minimum is ``voided`` and gives its place under the cap back. A refund of a completed order
  changes nothing (RULES.md: voided only while pending); a granted referral stays granted.
- ``grant_completed`` (a due job) grants what is still pending on a completed order: the
  backstop for a completion handler that found the invitee's turn taken.

A replayed or redelivered event finds the row already past its state and does nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from linli import events
from linli.catalog import service as catalog
from linli.commission import service as commission
from linli.db import Database, insert_ignore, take_counter
from linli.errors import Conflict
from linli.identity import service as identity
from linli.identity.rules import mask_phone
from linli.incentives import boards, programmes, rules
from linli.incentives.events import ReferralGranted, ReferralPending, ReferralVoided
from linli.incentives.models import (
    InviteeBinding,
    InviteeTurn,
    ProgrammeCap,
    ProgrammeInviter,
    ProgrammeMilestone,
    ProgrammeReferral,
    ProgrammeReward,
    ReferralProgramme,
)
from linli.incentives.turns import take_turn
from linli.orders import service as orders
from linli.orders.events import OrderCompleted, OrderReceived, OrderRefunded
from linli.referral import service as referral
from linli.referral.events import MemberBound
from linli.rewards import coupons, earning, stored_value


def _net_paid(s: Session, lines) -> int:
    """What the order's lines paid less what is refunded now (a refund handled before this
    event is counted, whatever order the events arrive in)."""
    now_paid = orders.line_amounts(s, [ln.line_id for ln in lines])
    return sum(paid - refunded for paid, refunded in (now_paid.get(ln.line_id, (ln.paid, ln.refunded)) for ln in lines))


def _facts(r: ProgrammeReferral, at: datetime) -> dict:
    return {"referral_id": r.id, "programme_id": r.programme_id, "merchant_id": r.merchant_id, "inviter_id": r.inviter_id, "invitee_id": r.invitee_id,
            "order_id": r.order_id, "paid": r.paid, "at": at}


def on_bound(s: Session, p: MemberBound, event_id: int, at: datetime) -> None:
    """Record the binding as made (referral keeps only the current one)."""
    row = {"merchant_id": p.merchant_id, "invitee_id": p.invitee_id, "inviter_id": p.inviter_id, "bound_at": at, "event_id": event_id}
    s.execute(insert_ignore(s, InviteeBinding, row, ["event_id"]))
    s.execute(insert_ignore(s, InviteeTurn, {"merchant_id": p.merchant_id, "invitee_id": p.invitee_id}, ["merchant_id", "invitee_id"]))


def inviter_at(s: Session, merchant_id: int, invitee_id: int, at: datetime) -> tuple[int, datetime] | None:
    """(inviter, bound at) of the binding in force at ``at``: the latest made by then —
    from incentives' history, or referral's current binding if it is older than ``at`` (made
    before the history was kept, or its ``member.bound`` not handled yet). A rebinding after
    ``at`` does not take the referral away."""
    q = (select(InviteeBinding.inviter_id, InviteeBinding.bound_at).where(InviteeBinding.merchant_id == merchant_id, InviteeBinding.invitee_id == invitee_id, InviteeBinding.bound_at <= at)
         .order_by(InviteeBinding.bound_at.desc(), InviteeBinding.id.desc()).limit(1))
    found = [tuple(r) for r in s.execute(q)] + [b for b in [referral.binding_of(s, merchant_id, invitee_id)] if b is not None and b[1] <= at]
    return max(found, key=lambda b: b[1]) if found else None


def on_received(s: Session, p: OrderReceived, now: datetime) -> list[ProgrammeReferral]:
    take_turn(s, p.merchant_id, p.member_id)
    binding = inviter_at(s, p.merchant_id, p.member_id, p.received_at)
    if binding is None:
        return []
    inviter_id, bound_at = binding
    if orders.first_received_order(s, p.member_id, p.merchant_id) != p.order_id:
        return []
    done = orders.completions(s, [p.order_id]).get(p.order_id)
    net = done.net_paid if done is not None else _net_paid(s, p.lines)
    made = []
    for prog in programmes.running(s, p.merchant_id, p.received_at):
        if not rules.qualifies(bound_at, p.received_at, prog.window_days, net, prog.min_paid):
            continue
        month = rules.month_of(p.received_at)
        row = {"merchant_id": p.merchant_id, "programme_id": prog.id, "inviter_id": inviter_id, "invitee_id": p.member_id, "order_id": p.order_id, "paid": net,
               "month": month, "status": "pending", "bound_at": bound_at, "created_at": now}
        rid = s.execute(insert_ignore(s, ProgrammeReferral, row, ["programme_id", "invitee_id"]).returning(ProgrammeReferral.id)).scalar()
        if rid is None:
            continue  # one referral per (programme, invitee): handled before
        r = s.get(ProgrammeReferral, rid)
        if take_counter(s, ProgrammeCap, {"programme_id": prog.id, "inviter_id": inviter_id, "month": month}, 1, prog.monthly_cap, merchant_id=p.merchant_id):
            events.emit(s, ReferralPending(**_facts(r, now)), merchant_id=p.merchant_id, at=now)
        else:
            r.status, r.void_reason, r.voided_at = "voided", "monthly_cap", now
            events.emit(s, ReferralVoided(**_facts(r, now), reason="monthly_cap"), merchant_id=p.merchant_id, at=now)
        made.append(r)
    s.flush()
    if made and done is not None:
        _grant_order(s, p.order_id, done.net_paid, now)  # the window closed before this ran
    return made


def on_completed(s: Session, p: OrderCompleted, now: datetime) -> int:
    take_turn(s, p.merchant_id, p.member_id)
    return _grant_order(s, p.order_id, sum(ln.paid - ln.refunded for ln in p.lines), now)


def on_refunded(s: Session, p: OrderRefunded, now: datetime) -> int:
    """Void the order's pending referrals whose minimum its net paid no longer reaches —
    unless the order has completed: then its completion judges (a refund before it is in
    what it carried; one after it changes nothing)."""
    take_turn(s, p.merchant_id, p.member_id)
    pending = _pending(s, p.order_id)
    if not pending or orders.completions(s, [p.order_id]):
        return 0
    net = min(p.total_paid - sum(ln.refunded for ln in p.lines), _net_paid(s, p.lines))
    voided = 0
    for r, prog in pending:
        if net < prog.min_paid and _void(s, r, "refunded", now):
            voided += 1
    return voided


BACKSTOP_AFTER = timedelta(hours=1)  # the completion handler's own retries come first


def grant_completed(db: Database, as_of: datetime, chunk: int = 500) -> int:
    """Grant (or void) the pending referrals whose order completed over ``BACKSTOP_AFTER``
    ago, each invitee in its own transaction and turn; an invitee whose turn is taken now is
    left to the next run."""
    granted, after = 0, 0
    while True:
        with db.transaction() as s:
            rows = s.execute(select(ProgrammeReferral.id, ProgrammeReferral.merchant_id, ProgrammeReferral.invitee_id, ProgrammeReferral.order_id)
                             .where(ProgrammeReferral.status == "pending", ProgrammeReferral.id > after).order_by(ProgrammeReferral.id).limit(chunk)).all()
            done = {oid: c for oid, c in orders.completions(s, [r.order_id for r in rows]).items() if c.completed_at <= as_of - BACKSTOP_AFTER}
        if not rows:
            return granted
        after = rows[-1].id
        for merchant_id, invitee_id, order_id in sorted({(r.merchant_id, r.invitee_id, r.order_id) for r in rows if r.order_id in done}):
            try:
                with db.transaction() as s:
                    take_turn(s, merchant_id, invitee_id)
                    granted += _grant_order(s, order_id, done[order_id].net_paid, as_of)
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available: the invitee's handler holds the turn
                    raise


def void_for_clawback(s: Session, merchant_id: int, inviter_id: int, now: datetime) -> int:
    """A claw back of the inviter's commission at ``now`` (the event's time) also voids the
    referral rewards that were waiting for them then (``clawed_back``); granted ones stay
    granted, and one a friend earned after the claw back is left alone by a late or
    redelivered event."""
    q = select(ProgrammeReferral).where(
        ProgrammeReferral.merchant_id == merchant_id, ProgrammeReferral.inviter_id == inviter_id, ProgrammeReferral.status == "pending",
        ProgrammeReferral.created_at <= now,
    )
    return sum(1 for r in s.scalars(q.order_by(ProgrammeReferral.id)).all() if _void(s, r, "clawed_back", now))


def _pending(s: Session, order_id: int) -> list[tuple[ProgrammeReferral, ReferralProgramme]]:
    q = (select(ProgrammeReferral, ReferralProgramme).join(ReferralProgramme, ReferralProgramme.id == ProgrammeReferral.programme_id)
         .where(ProgrammeReferral.order_id == order_id, ProgrammeReferral.status == "pending").order_by(ProgrammeReferral.id))
    return [(r, p) for r, p in s.execute(q)]


def _void(s: Session, r: ProgrammeReferral, reason: str, now: datetime) -> bool:
    if s.execute(update(ProgrammeReferral).where(ProgrammeReferral.id == r.id, ProgrammeReferral.status == "pending").values(status="voided", void_reason=reason, voided_at=now)).rowcount != 1:
        return False
    s.execute(update(ProgrammeCap).where(ProgrammeCap.programme_id == r.programme_id, ProgrammeCap.inviter_id == r.inviter_id, ProgrammeCap.month == r.month, ProgrammeCap.qty > 0)
              .values(qty=ProgrammeCap.qty - 1))
    s.refresh(r)
    events.emit(s, ReferralVoided(**_facts(r, now), reason=reason), merchant_id=r.merchant_id, at=now)
    return True


def _grant_order(s: Session, order_id: int, net_at_completion: int, now: datetime) -> int:
    """The order's pending referrals judged on its net paid when its window closed."""
    granted = 0
    for r, prog in _pending(s, order_id):
        if net_at_completion < prog.min_paid:  # refunded below the minimum before completion
            _void(s, r, "refunded", now)
        elif grant(s, r, prog, now):
            granted += 1
    return granted


def grant(s: Session, r: ProgrammeReferral, prog: ReferralProgramme, now: datetime) -> bool:
    """``pending → granted``, the rewards, the inviter's count and the milestones it reaches.
    While the inviter is under a hold (a risk case, a suspension) the referral stays pending:
    the backstop job grants it once the hold is released, and a claw back voids it."""
    if commission.is_held(s, r.merchant_id, r.inviter_id):
        return False
    if s.execute(update(ProgrammeReferral).where(ProgrammeReferral.id == r.id, ProgrammeReferral.status == "pending").values(status="granted", granted_at=now)).rowcount != 1:
        return False
    s.refresh(r)
    boards.on_granted(s, r, now)  # the inviter's leaderboard score, in this transaction
    _give(s, prog, r, None, "inviter", r.inviter_id, programmes.reward_of(prog.inviter_reward), f"ref:{r.id}:inviter", now)
    _give(s, prog, r, None, "invitee", r.invitee_id, programmes.reward_of(prog.invitee_reward), f"ref:{r.id}:invitee", now)
    s.execute(insert_ignore(s, ProgrammeInviter, {"programme_id": prog.id, "inviter_id": r.inviter_id, "merchant_id": r.merchant_id, "granted": 0}, ["programme_id", "inviter_id"]))
    count = s.execute(update(ProgrammeInviter).where(ProgrammeInviter.programme_id == prog.id, ProgrammeInviter.inviter_id == r.inviter_id)
                      .values(granted=ProgrammeInviter.granted + 1).returning(ProgrammeInviter.granted)).scalar_one()
    reached = []
    for m in rules.reached(count, programmes.milestones_of(prog)):
        row = {"merchant_id": r.merchant_id, "programme_id": prog.id, "inviter_id": r.inviter_id, "count": m.count, "referral_id": r.id, "reached_at": now}
        mid = s.execute(insert_ignore(s, ProgrammeMilestone, row, ["programme_id", "inviter_id", "count"]).returning(ProgrammeMilestone.id)).scalar()
        if mid is None:
            continue
        reached.append(m.count)
        _give(s, prog, r, mid, "inviter", r.inviter_id, m.inviter_reward, f"ms:{mid}:inviter", now)
        _give(s, prog, r, mid, "invitee", r.invitee_id, m.invitee_reward, f"ms:{mid}:invitee", now)
    events.emit(s, ReferralGranted(**_facts(r, now), reached=tuple(reached)), merchant_id=r.merchant_id, at=now)
    s.flush()
    return True


def _give(s: Session, prog: ReferralProgramme, r: ProgrammeReferral, milestone_id: int | None, side: str, member_id: int, reward: rules.Reward | None, key: str, now: datetime) -> None:
    """One reward through the rewards domain's keyed grant, recorded once under ``key``."""
    if reward is None:
        return
    if s.scalars(select(ProgrammeReward.id).where(ProgrammeReward.key == key)).first() is not None:
        return
    source = f"incentive-{key.replace(':', '-')}"
    coupon_id, asked, failure = None, reward.amount or 1, None
    if reward.kind == rules.Kind.points:
        granted = value = earning.grant_reward(s, prog.merchant_id, member_id, reward.amount, source, now)
    elif reward.kind == rules.Kind.stored_value_bonus:
        granted = value = stored_value.grant_bonus(s, prog.merchant_id, member_id, reward.amount, source, now)
        failure = "stored_value.cap" if granted < reward.amount else None  # the card was (nearly) full: less or nothing given
    else:  # a coupon, or a gift SKU's gift coupon: bounded by the key, not the per-member limit
        granted, value, coupon_id, failure = _give_coupon(s, reward, member_id, source, now)
    s.add(ProgrammeReward(merchant_id=prog.merchant_id, programme_id=prog.id, referral_id=r.id, milestone_id=milestone_id, member_id=member_id, side=side, key=key,
                          kind=reward.kind.value, asked=asked, granted=granted, coupon_id=coupon_id, value=value, failure=failure, created_at=now))
    s.flush()


def _give_coupon(s: Session, reward: rules.Reward, member_id: int, source: str, now: datetime) -> tuple[int, int, int | None, str | None]:
    """(granted, value, coupon id, failure): a template that cannot give one (ended, sold
    out, deactivated) is a failure on record; a race with the member's other grants raises
    (``coupons.GrantContended``), so the handler rolls back and is retried, never a 0 grant."""
    try:
        c = coupons.grant_keyed(s, reward.template_id, member_id, "reward", source, now, member_limit=False)
    except Conflict as exc:
        return 0, 0, None, exc.code
    return 1, _coupon_value(s, reward), c.id, None


def _coupon_value(s: Session, reward: rules.Reward) -> int:
    """A coupon's cost as granted: its amount off (fixed, threshold), its gift's price; a
    percent coupon's cost is known only when used (0 here)."""
    t = coupons.template_by_id(s, reward.template_id)
    if t is None:
        return 0
    if t.kind == "gift" and t.gift_sku_id is not None:
        sku = catalog.sku_views(s, [t.gift_sku_id]).get(t.gift_sku_id)
        return sku.price if sku is not None else 0
    return t.amount if t.kind in ("fixed", "threshold") else 0


# --- a member's own referrals ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReferralView:
    id: int
    programme_id: int
    invitee_masked: str
    invitee_name: str
    status: str
    void_reason: str | None
    reward: rules.Reward | None
    paid: int
    created_at: datetime
    granted_at: datetime | None
    reward_failure: str | None = None  # why the inviter's reward was not given (coupon.sold_out, …)


@dataclass(frozen=True)
class Progress:
    programme: ReferralProgramme
    granted: int
    reached: list[int]
    next: rules.Milestone | None


@dataclass(frozen=True)
class Mine:
    programmes: list[ReferralProgramme]
    referrals: list[ReferralView]
    progress: list[Progress]


def mine(s: Session, member_id: int, merchant_id: int, now: datetime, limit: int = 100) -> Mine:
    """The member's referrals as an inviter (newest first, invitees' phones masked), the
    programmes running now and their progress to the next milestone in each programme."""
    identity.public_merchant(s, merchant_id)
    rows = list(s.scalars(select(ProgrammeReferral).where(ProgrammeReferral.merchant_id == merchant_id, ProgrammeReferral.inviter_id == member_id)
                          .order_by(ProgrammeReferral.id.desc()).limit(limit)))
    progs = {p.id: p for p in s.scalars(select(ReferralProgramme).where(ReferralProgramme.id.in_({r.programme_id for r in rows})))} if rows else {}
    running = programmes.running(s, merchant_id, now)
    for p in running:
        progs.setdefault(p.id, p)
    people = identity.members_by_ids(s, [r.invitee_id for r in rows])
    failed = dict(s.execute(select(ProgrammeReward.referral_id, ProgrammeReward.failure).where(
        ProgrammeReward.referral_id.in_([r.id for r in rows]), ProgrammeReward.side == "inviter", ProgrammeReward.milestone_id.is_(None), ProgrammeReward.failure.is_not(None))).all()) if rows else {}
    views = [ReferralView(r.id, r.programme_id, mask_phone(people[r.invitee_id].phone), people[r.invitee_id].nickname, r.status, r.void_reason,
                          programmes.reward_of(progs[r.programme_id].inviter_reward), r.paid, r.created_at, r.granted_at, failed.get(r.id)) for r in rows]
    counts = dict(s.execute(select(ProgrammeInviter.programme_id, ProgrammeInviter.granted).where(ProgrammeInviter.inviter_id == member_id, ProgrammeInviter.merchant_id == merchant_id)).all())
    reached: dict[int, list[int]] = {}
    for pid, count in s.execute(select(ProgrammeMilestone.programme_id, ProgrammeMilestone.count).where(ProgrammeMilestone.inviter_id == member_id, ProgrammeMilestone.merchant_id == merchant_id)
                                .order_by(ProgrammeMilestone.count)):
        reached.setdefault(pid, []).append(count)
    progress = [Progress(p, counts.get(p.id, 0), reached.get(p.id, []), rules.next_milestone(counts.get(p.id, 0), programmes.milestones_of(p)))
                for p in sorted(progs.values(), key=lambda p: p.id) if p.milestones]
    return Mine(running, views, progress)
