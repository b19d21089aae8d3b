"""Commission's accounts on the kernel ledger (linli.ledger) and the sharer balance rows.

Every movement of commission money is one kernel transfer between these accounts. The
sharer's frozen, available and held accounts are balance-backed: their ``SharerBalance`` row moves
in the same transaction as the entry (this module's ``SharerBook``), so a compare-and-set on
the row guards payouts, and ``linli ledger check`` proves that ledger, balance rows and
commission records agree. The account strings are the ones stored in existing rows.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from linli import ledger
from linli.commission.models import CommissionRecord, SharerBalance
from linli.db import insert_ignore
from linli.ledger import Problem

COMMISSION_PAYABLE = "commission_payable"
SHARER_FROZEN = "sharer_frozen"
SHARER_AVAILABLE = "sharer_available"
SHARER_HELD = "sharer_held"  # available money a hold keeps from withdrawal (``holds``)
PAYOUT_CLEARING = "payout_clearing"
FEES = "fees"
PAID_OUT = "paid_out"
_BALANCE_COLUMN = {SHARER_FROZEN: "frozen", SHARER_AVAILABLE: "available", SHARER_HELD: "held"}
# The commission record state whose sum each balance-backed account must equal.
_STATE_ACCOUNT = {"frozen": SHARER_FROZEN, "available": SHARER_AVAILABLE, "held": SHARER_HELD}


def ensure_balance(s: Session, merchant_id: int, member_id: int) -> None:
    s.execute(insert_ignore(s, SharerBalance, {"merchant_id": merchant_id, "member_id": member_id, "frozen": 0, "available": 0, "held": 0, "hold_moves": 0}, ["merchant_id", "member_id"]))


def balance(s: Session, merchant_id: int, member_id: int) -> SharerBalance | None:
    return s.scalars(select(SharerBalance).where(SharerBalance.merchant_id == merchant_id, SharerBalance.member_id == member_id)).first()


def lock_balances(s: Session, keys: set[tuple[int, int]]) -> None:
    """Take these (merchant, member) balance rows for the rest of the transaction, in one
    order (PostgreSQL row locks; SQLite serialises writers anyway)."""
    for merchant_id, member_id in sorted(keys):
        s.execute(select(SharerBalance.id).where(SharerBalance.merchant_id == merchant_id, SharerBalance.member_id == member_id).with_for_update())


class SharerBook:
    """The ledger's ``BalanceBook`` for the sharer frozen / available / held accounts."""

    def move(self, s: Session, merchant_id: int, account: str, member_id: int | None, amount: int, *, require_funds: bool) -> bool:
        column = _BALANCE_COLUMN[account]
        ensure_balance(s, merchant_id, member_id)
        col = getattr(SharerBalance, column)
        stmt = update(SharerBalance).where(SharerBalance.merchant_id == merchant_id, SharerBalance.member_id == member_id)
        if require_funds:
            stmt = stmt.where(col >= -amount)
        return s.execute(stmt.values({column: col + amount})).rowcount == 1

    def check(self, s: Session, merchant_id: int | None) -> list[Problem]:
        """Each sharer's frozen / available / held ledger balance equals their balance row
        and the sum of their commission records in that state."""
        totals = ledger.account_totals(s, _BALANCE_COLUMN, merchant_id)
        records: dict[tuple[int, str, int], int] = {}
        q = select(CommissionRecord.merchant_id, CommissionRecord.state, CommissionRecord.member_id, func.sum(CommissionRecord.amount)).where(CommissionRecord.state.in_(tuple(_STATE_ACCOUNT))).group_by(CommissionRecord.merchant_id, CommissionRecord.state, CommissionRecord.member_id)
        if merchant_id is not None:
            q = q.where(CommissionRecord.merchant_id == merchant_id)
        for mid, state, member, total in s.execute(q):
            records[(mid, _STATE_ACCOUNT[state], member)] = int(total)
        rows: dict[tuple[int, str, int], int] = {}
        q = select(SharerBalance)
        if merchant_id is not None:
            q = q.where(SharerBalance.merchant_id == merchant_id)
        for b in s.scalars(q):
            rows[(b.merchant_id, SHARER_FROZEN, b.member_id)] = b.frozen
            rows[(b.merchant_id, SHARER_AVAILABLE, b.member_id)] = b.available
            rows[(b.merchant_id, SHARER_HELD, b.member_id)] = b.held
        problems = []
        for key in sorted(set(totals) | set(records) | set(rows), key=lambda k: (k[0], k[2] or 0, k[1])):
            lv, rv, bv = totals.get(key, 0), records.get(key, 0), rows.get(key, 0)
            if not lv == rv == bv:
                problems.append(Problem(key[0], key[1], key[2], f"ledger {lv}, commission records {rv}, balance row {bv}"))
        return problems


ledger.register_accounts("commission", [COMMISSION_PAYABLE, SHARER_FROZEN, SHARER_AVAILABLE, SHARER_HELD, PAYOUT_CLEARING, FEES, PAID_OUT], book=SharerBook(), balance_accounts=_BALANCE_COLUMN)
