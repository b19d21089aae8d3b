"""Stored value (储值): a merchant's top-up plans, top-ups paid through the gateway, spending
on orders (principal first, then bonus), giving it back when an order is cancelled unpaid
or refunded, and refunding the principal on request.

Every balance change is a ledger transfer with a unique key (the top-up, the order, the
refund), so a retried request or a redelivered event moves money once; spends are
compare-and-set on the member's balances and never go below zero.

The cap (RULES.md: at most 500,000 fen held per member and merchant, 单用途商业预付卡) counts
principal, bonus and the member's pending top-ups when a top-up is created (a pending one
counts for ``rules.TOPUP_PENDING_HOLD``, the time its payment may take). It is checked again
when the payment arrives, against what is held then: a top-up that would pass the cap at
that moment (two top-ups paid at once, or a stale one paid late) is refunded in full through
the gateway and marked ``refunded``; nothing is credited. Stored value that comes back from
a refunded paid order is the member's again even if they topped up since; what that puts
over the cap is paid out through the gateway as principal (``settle_over_cap``).

A principal refund pays back all the principal held, against the member's paid top-up
payments newest first (each at most what it paid and has not refunded), and forfeits the
bonus in the same proportion (``rules.bonus_forfeited`` of the principal held: refunding all
of it forfeits all the bonus — the bonus was given for money that stays prepaid). Bonus due
that was already spent is held back from the principal paid out and paid out once that
bonus comes back (``settle_held_back``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli import events, ledger
from linli.db import insert_ignore
from linli.errors import Conflict, Invalid, NotFound
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.ledger import Leg
from linli.payments import service as payments
from linli.rewards import accounts, rules
from linli.rewards.events import StoredValuePayoutDue
from linli.rewards.models import OrderRewards, RewardBalance, RewardSettings, StoredValuePayout, StoredValueRefund, Topup, TopupPlan

TOPUP = "topup"  # the subject of a top-up's payment (payments' ``subject``)


def held(s: Session, merchant_id: int, member_id: int) -> tuple[int, int]:
    b = accounts.balance(s, merchant_id, member_id)
    return b.sv_principal, b.sv_bonus


def check_spend(s: Session, merchant_id: int, member_id: int, amount: int) -> None:
    if amount < 0:
        raise Invalid("stored_value.invalid", "Stored value cannot be negative.")
    rules.split_spend(amount, *held(s, merchant_id, member_id))


def spend(s: Session, merchant_id: int, member_id: int, order_id: int, amount: int, now: datetime) -> tuple[int, int]:
    """(principal, bonus) taken for the order."""
    if amount <= 0:
        return 0, 0
    principal, bonus = rules.split_spend(amount, *held(s, merchant_id, member_id))
    legs = [Leg(accounts.SV_PRINCIPAL, member_id, -principal), Leg(accounts.SV_BONUS, member_id, -bonus), Leg(accounts.SV_SPENT, None, amount)]
    try:
        ledger.transfer(s, merchant_id, "sv_spend", f"sv:spend:{order_id}", legs, now, require_funds=True)
    except ledger.InsufficientFunds:
        raise Conflict("stored_value.changed", "Your stored value changed meanwhile; try again.") from None
    return principal, bonus


def give_back(s: Session, merchant_id: int, member_id: int, key: str, principal: int, bonus: int, returned_before: int, n: int, now: datetime) -> int:
    """Return ``n`` more fen of what an order paid from stored value (``returned_before``
    already came back), principal and bonus in the proportion they were taken (the
    cumulative split is floored on principal, so the whole comes back exactly). Once per
    ``key``; returns the fen moved."""
    total = principal + bonus
    n = min(n, total - returned_before)
    if n <= 0:
        return 0
    p_before = principal * returned_before // total
    p_after = principal * (returned_before + n) // total
    p_back, b_back = p_after - p_before, n - (p_after - p_before)
    legs = [Leg(accounts.SV_SPENT, None, -n), Leg(accounts.SV_PRINCIPAL, member_id, p_back), Leg(accounts.SV_BONUS, member_id, b_back)]
    if not ledger.transfer(s, merchant_id, "sv_return", key, legs, now):
        return 0
    if b_back > 0:
        settle_held_back(s, merchant_id, member_id, b_back, key, now)
    return n


# --- plans ----------------------------------------------------------------------------------


def plans(s: Session, merchant_id: int) -> list[TopupPlan]:
    """A shop's top-up plans (充100送10), smallest first: public to its members."""
    identity.public_merchant(s, merchant_id)
    return list(s.scalars(select(TopupPlan).where(TopupPlan.merchant_id == merchant_id).order_by(TopupPlan.pay)))


def set_plans(s: Session, who: Principal, merchant_id: int, items: list[tuple[int, int]]) -> list[TopupPlan]:
    """Replace the plans ([(pay, bonus)]). Money rules, like commission's: ``manage_rules``."""
    identity.require_permission(s, who, merchant_id, Permission.manage_rules)
    rules.check_plans([rules.Plan(pay, bonus) for pay, bonus in items])
    # Two operators saving at once: the second waits for the first (the settings row is the lock).
    s.execute(insert_ignore(s, RewardSettings, {"merchant_id": merchant_id}, ["merchant_id"]))
    s.scalars(select(RewardSettings).where(RewardSettings.merchant_id == merchant_id).with_for_update()).one()
    for old in s.scalars(select(TopupPlan).where(TopupPlan.merchant_id == merchant_id)):
        s.delete(old)
    s.flush()
    s.add_all([TopupPlan(merchant_id=merchant_id, pay=pay, bonus=bonus) for pay, bonus in sorted(items)])
    s.flush()
    return plans(s, merchant_id)


# --- top-ups --------------------------------------------------------------------------------


def _lock_balance(s: Session, merchant_id: int, member_id: int) -> RewardBalance:
    """The member's balance row, locked until commit: top-ups, credits and refunds of one
    member at one merchant take their turn (spends stay compare-and-set)."""
    accounts.ensure_balance(s, merchant_id, member_id)
    q = select(RewardBalance).where(RewardBalance.merchant_id == merchant_id, RewardBalance.member_id == member_id).with_for_update()
    row = s.scalars(q).one()
    s.refresh(row)
    return row


def _parked(s: Session, merchant_id: int, member_id: int) -> int:
    """Stored value taken by the member's orders that are not paid yet: it comes back if they
    are cancelled, so it counts against the cap (else parking 5,000 元 in an unpaid order,
    topping up 5,000 元 and cancelling would hold 10,000 元)."""
    q = select(func.coalesce(func.sum(OrderRewards.sv_principal + OrderRewards.sv_bonus - OrderRewards.sv_returned), 0)).where(
        OrderRewards.merchant_id == merchant_id, OrderRewards.member_id == member_id, OrderRewards.state == "held")
    return int(s.scalar(q))


def create_topup(s: Session, member_id: int, merchant_id: int, pay: int, now: datetime, how: payments.PayWith | None = None) -> tuple[Topup, payments.Checkout]:
    """A top-up of ``pay`` fen (the plan's bonus if ``pay`` is a plan's amount) and its
    payment intent at the gateway (the sandbox, or the provider of ``how.method``, which
    closes it when the top-up stops counting as pending). Refused over the cap, counting
    pending top-ups."""
    identity.public_merchant(s, merchant_id)
    bonus = rules.bonus_for([rules.Plan(p.pay, p.bonus) for p in plans(s, merchant_id)], pay)
    b = _lock_balance(s, merchant_id, member_id)
    pend_pay, pend_bonus = s.execute(
        select(func.coalesce(func.sum(Topup.pay), 0), func.coalesce(func.sum(Topup.bonus), 0)).where(
            Topup.merchant_id == merchant_id, Topup.member_id == member_id, Topup.status == "pending", Topup.created_at > now - rules.TOPUP_PENDING_HOLD
        )
    ).one()
    parked = _parked(s, merchant_id, member_id)
    rules.check_topup(pay, bonus, b.sv_principal + int(pend_pay) + parked, b.sv_bonus + int(pend_bonus))
    t = Topup(merchant_id=merchant_id, member_id=member_id, pay=pay, bonus=bonus, status="pending", created_at=now)
    s.add(t)
    s.flush()
    if how is not None:
        how = replace(how, expires_at=now + rules.TOPUP_PENDING_HOLD)
    c = payments.open_for(s, merchant_id, member_id, TOPUP, t.id, pay, now, how)
    t.payment_id = c.payment.id
    s.flush()
    return t, c


def credit(s: Session, topup_id: int, payment_id: int, now: datetime) -> str:
    """The top-up's payment succeeded: credit principal and the plan's bonus once, or, if it
    would now pass the cap, refund the payment instead. Returns ``paid``, ``refunded`` or
    ``duplicate``."""
    t = s.get(Topup, topup_id)
    if t is None or t.payment_id != payment_id:
        return "duplicate"  # not a payment of this top-up: nothing to credit
    b = _lock_balance(s, t.merchant_id, t.member_id)
    s.refresh(t)
    if t.status != "pending":
        return "duplicate"
    try:
        rules.check_topup(t.pay, t.bonus, b.sv_principal + _parked(s, t.merchant_id, t.member_id), b.sv_bonus)
    except Invalid:
        payments.refund_payment(s, payment_id, t.pay, f"topup_over_cap:{t.id}", now)
        t.status = "refunded"
        s.flush()
        return "refunded"
    ledger.transfer(s, t.merchant_id, "sv_topup", f"sv:topup:{t.id}", [Leg(accounts.SV_FUNDING, None, -t.pay), Leg(accounts.SV_PRINCIPAL, t.member_id, t.pay)], now)
    ledger.transfer(s, t.merchant_id, "sv_bonus", f"sv:bonus:{t.id}", [Leg(accounts.SV_BONUS_GRANTED, None, -t.bonus), Leg(accounts.SV_BONUS, t.member_id, t.bonus)], now)
    t.status, t.paid_at = "paid", now
    s.flush()
    return "paid"


# --- principal refund and payouts ------------------------------------------------------------


def refund_principal(s: Session, member_id: int, merchant_id: int, now: datetime) -> StoredValueRefund:
    """Pay back all the principal held (against the member's paid top-ups newest first) and
    forfeit the bonus pro rata: each top-up's bonus in the share of its principal that has
    left it (rounded against the bonus kept). A member who spent half of a 100 元 + 10 元
    top-up keeps 5 元 of its bonus; one who spent none keeps none. Bonus that is due but
    already spent (an order paid with it while its principal sat in another order that was
    later refunded or cancelled) is held back from the principal paid out, so bonus never
    leaves as cash; it is paid out when that bonus comes back (``settle_held_back``),
    held on the newest top-ups, whose payments the gateway refunds longest. The
    gateway is asked after commit (``StoredValuePayout``). Refused when there is no
    principal, or while an unpaid order holds stored value."""
    identity.public_merchant(s, merchant_id)
    b = _lock_balance(s, merchant_id, member_id)
    if b.sv_principal <= 0:
        raise Conflict("stored_value.nothing_to_refund", "There is no principal to refund.", principal=max(b.sv_principal, 0))
    if _parked(s, merchant_id, member_id):
        raise Conflict("stored_value.held_by_order", "An unpaid order holds some of your stored value: pay or cancel it first.")
    left, plan = b.sv_principal, []
    for t in _paid_topups(s, merchant_id, member_id):  # newest first
        take = min(left, t.pay - t.principal_out)
        if take > 0:
            plan.append((t, take))
            left -= take
    if left:  # principal comes only from top-ups (and orders giving back what they took), so this is a bug
        raise RuntimeError(f"principal refund for member {member_id}: {left} fen not backed by a top-up payment")
    return _pay_out(s, b, plan, "requested", now)


def settle_over_cap(s: Session, merchant_id: int, member_id: int, now: datetime) -> StoredValueRefund | None:
    """Stored value came back from a refunded order: whatever now passes the cap (the member
    topped up since paying it) is paid out as principal, from the top-ups with the least
    bonus per fen first, so that what is paid out plus the bonus it forfeits brings the
    member exactly to the cap; if the principal is not enough, bonus over the cap is
    forfeited. None when nothing passes the cap."""
    b = _lock_balance(s, merchant_id, member_id)
    over = b.sv_principal + b.sv_bonus + _parked(s, merchant_id, member_id) - rules.STORED_VALUE_CAP
    if over <= 0:
        return None
    left, plan = over, []
    principal, bonus = max(b.sv_principal, 0), max(b.sv_bonus, 0)
    for t in sorted(_paid_topups(s, merchant_id, member_id), key=lambda t: (t.bonus * 10_000 // t.pay, -t.id)):
        take = _largest_take(t, min(t.pay - t.principal_out, principal), left, bonus)
        if take > 0:
            plan.append((t, take))
            forfeit = min(_due(t, take), bonus)  # bonus due but spent is held back, which does not lower the balance
            left -= take + forfeit
            principal -= take
            bonus -= forfeit
    return _pay_out(s, b, plan, "over_cap", now, bonus_over=min(left, bonus))


def _due(t: Topup, take: int) -> int:
    """The bonus of ``t`` forfeited by ``take`` more of its principal leaving it: its share
    of everything that has left, less what it has forfeited already (rounded cumulatively,
    so a top-up refunded in parts forfeits exactly its bonus, never a fen more)."""
    return max(0, rules.bonus_forfeited(t.principal_out + take, t.pay, t.bonus) - t.bonus_out)


def _largest_take(t: Topup, room: int, reduce_by: int, bonus: int) -> int:
    """The most principal of ``t`` (at most ``room``) that, taken out with the bonus it
    forfeits (at most ``bonus``), lowers the balance by at most ``reduce_by``."""
    lo, hi = 0, max(0, min(room, reduce_by))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid + min(_due(t, mid), bonus) <= reduce_by:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _pay_out(s: Session, b: RewardBalance, plan: list[tuple[Topup, int]], reason: str, now: datetime, *, bonus_over: int = 0) -> StoredValueRefund:
    """Take ``plan``'s principal ([(top-up, fen)]) out of the member's balance and forfeit its
    share of their bonus (and ``bonus_over`` more: the bonus over the cap); principal whose
    due bonus was spent is held back on its top-up (the oldest first), the rest is paid out
    to each top-up's payment after commit."""
    merchant_id, member_id = b.merchant_id, b.member_id
    amount = sum(take for _, take in plan)
    due = sum(_due(t, take) for t, take in plan)
    bonus = max(b.sv_bonus, 0)
    forfeit = min(due + max(bonus_over, 0), bonus)
    held = min(max(due - bonus, 0), amount)
    r = StoredValueRefund(merchant_id=merchant_id, member_id=member_id, principal=amount - held, bonus_forfeited=forfeit, held_back=held, reason=reason, payments=[], created_at=now)
    s.add(r)
    s.flush()
    wrote = True
    try:
        if amount:
            legs = [Leg(accounts.SV_PRINCIPAL, member_id, -amount), Leg(accounts.SV_FUNDING, None, amount - held), Leg(accounts.SV_HELD_BACK, member_id, held)]
            wrote = ledger.transfer(s, merchant_id, "sv_refund", f"sv:principal_refund:{r.id}", legs, now, require_funds=True)
        if forfeit:
            legs = [Leg(accounts.SV_BONUS, member_id, -forfeit), Leg(accounts.SV_BONUS_GRANTED, None, forfeit)]
            wrote = ledger.transfer(s, merchant_id, "sv_forfeit", f"sv:bonus_forfeit:{r.id}", legs, now, require_funds=True) and wrote
    except ledger.InsufficientFunds:
        raise Conflict("stored_value.changed", "Your stored value changed meanwhile; try again.") from None
    if not wrote:  # a new refund row has fresh keys: a transfer already written means a key collision
        raise RuntimeError(f"principal refund {r.id}: its ledger transfer already exists")
    holds, hold_left = {}, held
    for t, take in sorted(plan, key=lambda item: -item[0].id):  # held back on the newest top-ups (the gateway's refund window closes last there)
        holds[t.id] = min(hold_left, take)
        hold_left -= holds[t.id]
    for t, take in plan:
        t.bonus_out += _due(t, take)
        t.principal_out += take
        t.held_back += holds[t.id]
        if take - holds[t.id]:
            _schedule_payout(s, t, take - holds[t.id], reason, r.id, now)
    extra = forfeit - min(due, bonus)  # bonus over the cap: charged to the top-ups with the most bonus per fen
    for t in sorted(_paid_topups(s, merchant_id, member_id), key=lambda t: (-(t.bonus * 10_000 // t.pay), -t.id)):
        x = min(extra, t.bonus - t.bonus_out)
        if x > 0:
            t.bonus_out += x
            extra -= x
    r.payments = [[p.payment_id, p.amount] for p in s.scalars(select(StoredValuePayout).where(StoredValuePayout.refund_id == r.id).order_by(StoredValuePayout.id))]
    s.flush()
    return r


def _paid_topups(s: Session, merchant_id: int, member_id: int) -> list[Topup]:
    """The member's paid top-ups, newest first."""
    q = select(Topup).where(Topup.merchant_id == merchant_id, Topup.member_id == member_id, Topup.status == "paid").order_by(Topup.id.desc())
    return list(s.scalars(q))


def settle_held_back(s: Session, merchant_id: int, member_id: int, bonus_back: int, key: str, now: datetime) -> int:
    """``bonus_back`` of spent bonus came back to the member (its order refunded or
    cancelled). If a principal refund held principal back for it, that bonus is forfeited
    now, as it would have been then, and the principal held back is paid out to the
    payments it was held on (the newest top-up first). Once per ``key``; returns the fen."""
    b = _lock_balance(s, merchant_id, member_id)
    n = min(bonus_back, b.sv_held_back, max(b.sv_bonus, 0))
    if n <= 0:
        return 0
    legs = [Leg(accounts.SV_BONUS, member_id, -n), Leg(accounts.SV_BONUS_GRANTED, None, n), Leg(accounts.SV_HELD_BACK, member_id, -n), Leg(accounts.SV_FUNDING, None, n)]
    if not ledger.transfer(s, merchant_id, "sv_release", f"sv:held_back_paid:{key}", legs, now, require_funds=True):
        return 0
    left = n
    held = select(Topup).where(Topup.merchant_id == merchant_id, Topup.member_id == member_id, Topup.held_back > 0).order_by(Topup.id.desc())
    for t in s.scalars(held):
        take = min(left, t.held_back)
        t.held_back -= take
        _schedule_payout(s, t, take, "held_back", None, now)
        left -= take
        if left == 0:
            break
    if left:  # sv_held_back is the sum of the top-ups' held_back (ledger check): a bug
        raise RuntimeError(f"member {member_id}: {left} fen held back on no top-up")
    s.flush()
    return n


def _schedule_payout(s: Session, t: Topup, amount: int, reason: str, refund_id: int | None, now: datetime) -> StoredValuePayout:
    p = StoredValuePayout(merchant_id=t.merchant_id, member_id=t.member_id, topup_id=t.id, payment_id=t.payment_id, amount=amount, reason=reason, refund_id=refund_id, status="pending", created_at=now)
    s.add(p)
    s.flush()
    events.emit(s, StoredValuePayoutDue(merchant_id=t.merchant_id, member_id=t.member_id, payout_id=p.id, amount=amount), merchant_id=t.merchant_id, at=now)
    return p


def pay_payout(s: Session, payout_id: int, now: datetime) -> bool:
    """Ask the gateway for one payout (``sv_payout:<id>``: a retry asks for the same refund,
    which it answers once). A refusal raises: the event is retried with backoff and logged
    until the gateway pays (or staff pay it by hand and mark it). False if already paid."""
    p = s.get(StoredValuePayout, payout_id, with_for_update=True)
    if p is None or p.status == "paid":
        return False
    payments.refund_payment(s, p.payment_id, p.amount, f"sv_payout:{p.id}", now)
    p.status, p.paid_at = "paid", now
    s.flush()
    return True


def paying_out(s: Session, merchant_id: int, member_id: int) -> int:
    """Principal decided to be paid back to the member that the gateway has not paid yet."""
    q = select(func.coalesce(func.sum(StoredValuePayout.amount), 0)).where(
        StoredValuePayout.merchant_id == merchant_id, StoredValuePayout.member_id == member_id, StoredValuePayout.status == "pending")
    return int(s.scalar(q))


def payouts(s: Session, who: Principal, merchant_id: int, status: str | None = "pending", limit: int = 100) -> list[StoredValuePayout]:
    """The shop's payouts of principal (finance): oldest first, pending ones by default."""
    identity.require_permission(s, who, merchant_id, Permission.finance)
    q = select(StoredValuePayout).where(StoredValuePayout.merchant_id == merchant_id)
    if status is not None:
        q = q.where(StoredValuePayout.status == status)
    return list(s.scalars(q.order_by(StoredValuePayout.id).limit(limit)))


def mark_paid_by_hand(s: Session, who: Principal, merchant_id: int, payout_id: int, note: str, now: datetime) -> StoredValuePayout:
    """Finance paid a payout outside the gateway (a bank transfer, cash at the counter): it is
    paid, the gateway is no longer asked. The note (how it was paid) is required."""
    identity.require_permission(s, who, merchant_id, Permission.finance)
    note = note.strip()
    if not 1 <= len(note) <= 200:
        raise Invalid("payout.note_required", "Say how it was paid (1 to 200 characters).", field="note")
    p = s.get(StoredValuePayout, payout_id, with_for_update=True)
    if p is None or p.merchant_id != merchant_id:
        raise NotFound("payout.not_found", "No such payout.")
    if p.status == "paid":
        raise Conflict("payout.already_paid", "This payout is already paid.")
    p.status, p.paid_at, p.paid_by, p.note = "paid", now, who.member_id, note
    s.flush()
    return p


# --- a reward's bonus (incentives) ------------------------------------------------------------


def grant_bonus(s: Session, merchant_id: int, member_id: int, amount: int, key: str, now: datetime) -> int:
    """A reward paid as stored-value bonus (a referral programme's): sv_bonus_granted →
    sv_bonus, keyed ``sv:reward:{key}``, once. The cap holds: only what fits under 500,000 fen
    (principal, bonus and what unpaid orders hold) is granted, and the rest is not given —
    the caller records what was. Returns the fen granted now (0 on a repeat or a full card)."""
    if amount <= 0:
        return 0
    b = _lock_balance(s, merchant_id, member_id)
    room = max(0, rules.STORED_VALUE_CAP - b.sv_principal - b.sv_bonus - _parked(s, merchant_id, member_id))
    fits = min(amount, room)
    if fits <= 0:
        return 0
    legs = [Leg(accounts.SV_BONUS_GRANTED, None, -fits), Leg(accounts.SV_BONUS, member_id, fits)]
    return fits if ledger.transfer(s, merchant_id, "sv_reward", f"sv:reward:{key}", legs, now) else 0
