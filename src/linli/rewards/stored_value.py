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
the gateway and marked ``refunded``; nothing is credited.

A principal refund pays back all the principal held, against the member's paid top-up
payments newest first (each at most what it paid and has not refunded), and forfeits the
bonus in the same proportion (``rules.bonus_forfeited`` of the principal held: refunding all
of it forfeits all the bonus — the bonus was given for money that stays prepaid)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli import ledger
from linli.db import insert_ignore
from linli.errors import Conflict, Invalid
from linli.identity import service as identity
from linli.identity.rules import Permission
from linli.identity.service import Principal
from linli.ledger import Leg
from linli.payments import service as payments
from linli.rewards import accounts, rules
from linli.rewards.models import OrderRewards, RewardBalance, RewardSettings, StoredValueRefund, Topup, TopupPlan

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
    return n if ledger.transfer(s, merchant_id, "sv_return", key, legs, now) else 0


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


def create_topup(s: Session, member_id: int, merchant_id: int, pay: int, now: datetime) -> tuple[Topup, payments.Payment]:
    """A top-up of ``pay`` fen (the plan's bonus if ``pay`` is a plan's amount) and its
    payment intent at the gateway. Refused over the cap, counting pending top-ups."""
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
    p = payments.open_for(s, merchant_id, member_id, TOPUP, t.id, pay, now)
    t.payment_id = p.id
    s.flush()
    return t, p


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


# --- principal refund -----------------------------------------------------------------------


def refund_principal(s: Session, member_id: int, merchant_id: int, now: datetime) -> StoredValueRefund:
    """Pay back all the principal held (through the gateway, against the member's paid
    top-ups newest first) and forfeit the bonus pro rata: each top-up's bonus in the share
    of its payment refunded now (rounded against the bonus kept). A member who spent half of
    a 100 元 + 10 元 top-up keeps 5 元 of its bonus; one who spent none keeps none. Bonus that
    is due but already spent (an unpaid order parked the principal while the bonus paid
    another) is kept back from the principal paid out, so bonus never leaves as cash.
    Refused when there is no principal, or while an unpaid order holds stored value."""
    identity.public_merchant(s, merchant_id)
    b = _lock_balance(s, merchant_id, member_id)
    principal, bonus = b.sv_principal, b.sv_bonus
    if principal <= 0:
        raise Conflict("stored_value.nothing_to_refund", "There is no principal to refund.", principal=max(principal, 0))
    if _parked(s, merchant_id, member_id):
        raise Conflict("stored_value.held_by_order", "An unpaid order holds some of your stored value: pay or cancel it first.")
    left, plan, due = principal, [], 0
    paid = s.scalars(select(Topup).where(Topup.merchant_id == merchant_id, Topup.member_id == member_id, Topup.status == "paid").order_by(Topup.id.desc()))
    for t in paid:
        p = payments.get_payment(s, t.payment_id)
        take = min(left, p.amount - p.refunded)
        if take > 0:
            plan.append([p.id, take, p.refunded])
            # Rounded cumulatively per top-up, so refunds of one top-up in parts forfeit
            # exactly its bonus's share in total, never a fen more.
            due += rules.bonus_forfeited(p.refunded + take, t.pay, t.bonus) - rules.bonus_forfeited(p.refunded, t.pay, t.bonus)
            left -= take
        if left == 0:
            break
    if left:  # principal comes only from top-ups (and orders giving back what they took), so this is a bug
        raise RuntimeError(f"principal refund for member {member_id}: {left} fen not backed by a top-up payment")
    forfeit = min(due, max(bonus, 0))
    kept = min(due - forfeit, principal)  # spent bonus that was due: not paid out
    cut_left = kept
    for item in reversed(plan):  # kept back from the oldest payments
        cut = min(cut_left, item[1])
        item[1] -= cut
        cut_left -= cut
    plan = [item for item in plan if item[1] > 0]
    r = StoredValueRefund(merchant_id=merchant_id, member_id=member_id, principal=principal - kept, bonus_forfeited=forfeit + kept,
                          payments=[[pid, take] for pid, take, _ in plan], created_at=now)
    s.add(r)
    s.flush()
    legs = [Leg(accounts.SV_PRINCIPAL, member_id, -principal), Leg(accounts.SV_FUNDING, None, principal - kept), Leg(accounts.SV_BONUS_GRANTED, None, kept)]
    try:
        wrote = ledger.transfer(s, merchant_id, "sv_refund", f"sv:principal_refund:{r.id}", legs, now, require_funds=True)
        if forfeit:
            wrote = ledger.transfer(s, merchant_id, "sv_forfeit", f"sv:bonus_forfeit:{r.id}", [Leg(accounts.SV_BONUS, member_id, -forfeit), Leg(accounts.SV_BONUS_GRANTED, None, forfeit)], now, require_funds=True) and wrote
    except ledger.InsufficientFunds:
        raise Conflict("stored_value.changed", "Your stored value changed meanwhile; try again.") from None
    if not wrote:  # a new refund row has fresh keys: a transfer already written means a key collision
        raise RuntimeError(f"principal refund {r.id}: its ledger transfer already exists")
    for pid, take, refunded_before in plan:
        # Keyed by the payment and what it had refunded before: a retry after a gateway failure
        # asks the gateway for the same refund, which it answers once.
        payments.refund_payment(s, pid, take, f"sv_refund:{pid}:{refunded_before}", now)
    s.flush()
    return r

