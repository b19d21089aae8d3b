"""The ledger: balanced, append-only transfers with idempotency keys.

Every movement of commission money is one transfer whose entries sum to zero. Sharer
balances (frozen, available) move in the same transaction as their entries, so a
compare-and-set on the balance row guards payouts and ``check`` can prove the two agree.
Rows are never updated or deleted: a trigger refuses it on both databases; corrections
are reversal transfers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from linli.commission.models import (
    CommissionRecord,
    LedgerEntry,
    LedgerTransfer,
    SharerBalance,
)
from linli.db import insert_ignore

COMMISSION_PAYABLE = "commission_payable"
SHARER_FROZEN = "sharer_frozen"
SHARER_AVAILABLE = "sharer_available"
PAYOUT_CLEARING = "payout_clearing"
FEES = "fees"
PAID_OUT = "paid_out"
_BALANCE_COLUMN = {SHARER_FROZEN: "frozen", SHARER_AVAILABLE: "available"}


@dataclass(frozen=True)
class Leg:
    account: str
    member_id: int | None
    amount: int


class Unbalanced(ValueError):
    pass


class InsufficientFunds(Exception):
    pass


def ensure_balance(s: Session, merchant_id: int, member_id: int) -> None:
    s.execute(insert_ignore(s, SharerBalance, {"merchant_id": merchant_id, "member_id": member_id, "frozen": 0, "available": 0}, ["merchant_id", "member_id"]))


def transfer(s: Session, merchant_id: int, kind: str, key: str, legs: Sequence[Leg], now: datetime, *, require_funds: bool = False) -> bool:
    """Write one balanced transfer once per ``key``. False if it was already written.

    With ``require_funds`` a leg taking money out of a sharer balance is a compare-and-set
    that refuses to go below zero (``InsufficientFunds``; the caller's transaction then
    rolls back whole). Without it (reversals, clawbacks) a balance may go negative."""
    if sum(leg.amount for leg in legs) != 0:
        raise Unbalanced(f"transfer {key} does not balance: {legs}")
    legs = [leg for leg in legs if leg.amount != 0]
    if not legs:
        return False
    ins = insert_ignore(s, LedgerTransfer, {"merchant_id": merchant_id, "kind": kind, "key": key, "created_at": now}, ["key"]).returning(LedgerTransfer.id)
    transfer_id = s.execute(ins).scalar()
    if transfer_id is None:
        return False
    s.execute(LedgerEntry.__table__.insert(), [{"transfer_id": transfer_id, "merchant_id": merchant_id, "account": leg.account, "member_id": leg.member_id, "amount": leg.amount} for leg in legs])
    for leg in legs:
        column = _BALANCE_COLUMN.get(leg.account)
        if column is not None:
            ensure_balance(s, merchant_id, leg.member_id)
            col = getattr(SharerBalance, column)
            stmt = update(SharerBalance).where(SharerBalance.merchant_id == merchant_id, SharerBalance.member_id == leg.member_id)
            if require_funds and leg.amount < 0:
                stmt = stmt.where(col >= -leg.amount)
            if s.execute(stmt.values({column: col + leg.amount})).rowcount != 1:
                raise InsufficientFunds(key)
    return True


def balance(s: Session, merchant_id: int, member_id: int) -> SharerBalance | None:
    return s.scalars(select(SharerBalance).where(SharerBalance.merchant_id == merchant_id, SharerBalance.member_id == member_id)).first()


@dataclass(frozen=True)
class Problem:
    merchant_id: int
    account: str
    member_id: int | None
    detail: str


def check(s: Session, merchant_id: int | None = None) -> list[Problem]:
    """The ledger invariants of RULES.md: every transfer (so all accounts) sums to zero;
    each sharer's frozen / available ledger balance equals their balance row and the sum
    of their commission records in that state."""
    problems: list[Problem] = []
    q = select(LedgerEntry.merchant_id, LedgerEntry.transfer_id, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.merchant_id, LedgerEntry.transfer_id).having(func.sum(LedgerEntry.amount) != 0)
    if merchant_id is not None:
        q = q.where(LedgerEntry.merchant_id == merchant_id)
    for mid, tid, total in s.execute(q.limit(10)):
        problems.append(Problem(mid, "transfer", None, f"transfer {tid} sums to {total}, not 0"))
    ledger: dict[tuple[int, str, int], int] = {}
    q = select(LedgerEntry.merchant_id, LedgerEntry.account, LedgerEntry.member_id, func.sum(LedgerEntry.amount)).where(LedgerEntry.account.in_(list(_BALANCE_COLUMN))).group_by(LedgerEntry.merchant_id, LedgerEntry.account, LedgerEntry.member_id)
    if merchant_id is not None:
        q = q.where(LedgerEntry.merchant_id == merchant_id)
    for mid, account, member, total in s.execute(q):
        ledger[(mid, account, member)] = int(total)
    records: dict[tuple[int, str, int], int] = {}
    q = select(CommissionRecord.merchant_id, CommissionRecord.state, CommissionRecord.member_id, func.sum(CommissionRecord.amount)).where(CommissionRecord.state.in_(("frozen", "available"))).group_by(CommissionRecord.merchant_id, CommissionRecord.state, CommissionRecord.member_id)
    if merchant_id is not None:
        q = q.where(CommissionRecord.merchant_id == merchant_id)
    for mid, state, member, total in s.execute(q):
        records[(mid, SHARER_FROZEN if state == "frozen" else SHARER_AVAILABLE, member)] = int(total)
    rows: dict[tuple[int, str, int], int] = {}
    q = select(SharerBalance)
    if merchant_id is not None:
        q = q.where(SharerBalance.merchant_id == merchant_id)
    for b in s.scalars(q):
        rows[(b.merchant_id, SHARER_FROZEN, b.member_id)] = b.frozen
        rows[(b.merchant_id, SHARER_AVAILABLE, b.member_id)] = b.available
    for key in sorted(set(ledger) | set(records) | set(rows), key=lambda k: (k[0], k[2] or 0, k[1])):
        lv, rv, bv = ledger.get(key, 0), records.get(key, 0), rows.get(key, 0)
        if not lv == rv == bv:
            problems.append(Problem(key[0], key[1], key[2], f"ledger {lv}, commission records {rv}, balance row {bv}"))
    return problems


# --- append-only guard (used by the migration and by tests that wipe the database) --------

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION linli_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: write a reversal transfer instead';
END;
$$ LANGUAGE plpgsql
"""
TABLES = ("ledger_transfers", "ledger_entries")


def install_guard(conn) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(_PG_FUNCTION))
        for t in TABLES:
            conn.execute(text(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION linli_ledger_append_only()"))
    else:
        for t in TABLES:
            for op in ("UPDATE", "DELETE"):
                conn.execute(text(f"CREATE TRIGGER {t}_no_{op.lower()} BEFORE {op} ON {t} BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only: write a reversal transfer instead'); END"))


def remove_guard(conn) -> None:
    if conn.dialect.name == "postgresql":
        for t in TABLES:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}"))
        conn.execute(text("DROP FUNCTION IF EXISTS linli_ledger_append_only()"))
    else:
        for t in TABLES:
            for op in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {t}_no_{op}"))
