"""Stored value (储值) on orders: spending (principal first, then bonus) and giving it back
when the order is cancelled unpaid or refunded. Each is one ledger transfer keyed by the
order, a compare-and-set on the member's balances that never goes below zero."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from linli import ledger
from linli.errors import Conflict, Invalid
from linli.ledger import Leg
from linli.rewards import accounts, rules


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
