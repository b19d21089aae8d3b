"""The ledger (kernel): balanced, append-only transfers with idempotency keys.

Every movement of money is one transfer whose entries sum to zero, written once per
idempotency key. Accounts belong to the domain that owns them: a domain registers its
account names with ``register_accounts(owner, accounts, book=...)`` when its module is
imported, and ``transfer`` refuses an account nobody owns. The stored account strings are
the registered names as they are (no owner prefix), so existing rows keep their meaning.

Balance-backed accounts: a domain that keeps balance rows next to the ledger (commission's
sharer frozen / available) passes a ``BalanceBook``. ``transfer`` asks the book to move the
row in the same transaction as the entry (a compare-and-set when ``require_funds``), and
``check`` asks every book to prove its rows agree with the ledger. The kernel never
imports a domain: the books come to it.

Rows are never updated or deleted: a trigger refuses it on both databases; corrections
are reversal transfers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import BigInteger, ForeignKey, Index, String, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from linli.db import Base, BigId, UTCDateTime, insert_ignore, utcnow


class LedgerTransfer(Base):
    __tablename__ = "ledger_transfers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # accrual | reversal | clawback | settle | withdraw | payout | payout_failed
    key: Mapped[str] = mapped_column(String(120), unique=True)  # idempotency key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account", "merchant_id", "account", "member_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfers.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    account: Mapped[str] = mapped_column(String(32))  # a registered account name, e.g. commission's sharer_frozen
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # signed fen; each transfer sums to zero


@dataclass(frozen=True)
class Leg:
    account: str
    member_id: int | None
    amount: int


class Unbalanced(ValueError):
    pass


class UnknownAccount(ValueError):
    pass


class InsufficientFunds(Exception):
    pass


@dataclass(frozen=True)
class Problem:
    merchant_id: int
    account: str
    member_id: int | None
    detail: str


class BalanceBook(Protocol):
    """Balance rows a domain keeps for some of its accounts, moved with their entries."""

    def move(self, s: Session, merchant_id: int, account: str, member_id: int | None, amount: int, *, require_funds: bool) -> bool:
        """Add ``amount`` to the row; False if ``require_funds`` and it would go below zero."""
        ...

    def check(self, s: Session, merchant_id: int | None) -> list[Problem]:
        """Each row (and whatever else the domain keeps) against the ledger; [] when they agree."""
        ...


@dataclass(frozen=True)
class _Owner:
    name: str
    accounts: frozenset[str]
    book: BalanceBook | None
    balance_accounts: frozenset[str]


_owners: dict[str, _Owner] = {}
_account_owner: dict[str, str] = {}


def register_accounts(owner: str, accounts: Iterable[str], *, book: BalanceBook | None = None, balance_accounts: Iterable[str] = ()) -> None:
    """Declare ``owner``'s accounts; ``balance_accounts`` (a subset) move ``book``'s rows.

    Registering again with the same owner replaces it (a module imported twice); an account
    already owned by another domain is refused."""
    names, balanced = frozenset(accounts), frozenset(balance_accounts)
    if not balanced <= names:
        raise ValueError(f"{owner}: balance accounts {sorted(balanced - names)} are not among its accounts")
    if balanced and book is None:
        raise ValueError(f"{owner}: balance accounts need a book")
    for name in names:
        taken = _account_owner.get(name)
        if taken is not None and taken != owner:
            raise ValueError(f"account {name} already belongs to {taken}")
    for name in _owners.get(owner, _Owner(owner, frozenset(), None, frozenset())).accounts:
        _account_owner.pop(name, None)
    _owners[owner] = _Owner(owner, names, book, balanced)
    _account_owner.update(dict.fromkeys(names, owner))


def owner_of(account: str) -> str | None:
    return _account_owner.get(account)


def transfer(s: Session, merchant_id: int, kind: str, key: str, legs: Sequence[Leg], now: datetime, *, require_funds: bool = False) -> bool:
    """Write one balanced transfer once per ``key``. False if it was already written.

    With ``require_funds`` a leg taking money out of a balance-backed account is a
    compare-and-set that refuses to go below zero (``InsufficientFunds``; the caller's
    transaction then rolls back whole). Without it (reversals, clawbacks) a balance may go
    negative."""
    if sum(leg.amount for leg in legs) != 0:
        raise Unbalanced(f"transfer {key} does not balance: {legs}")
    unknown = sorted({leg.account for leg in legs} - set(_account_owner))
    if unknown:
        raise UnknownAccount(f"transfer {key}: no domain owns account(s) {unknown}")
    legs = [leg for leg in legs if leg.amount != 0]
    if not legs:
        return False
    ins = insert_ignore(s, LedgerTransfer, {"merchant_id": merchant_id, "kind": kind, "key": key, "created_at": now}, ["key"]).returning(LedgerTransfer.id)
    transfer_id = s.execute(ins).scalar()
    if transfer_id is None:
        return False
    s.execute(LedgerEntry.__table__.insert(), [{"transfer_id": transfer_id, "merchant_id": merchant_id, "account": leg.account, "member_id": leg.member_id, "amount": leg.amount} for leg in legs])
    for leg in legs:
        owner = _owners[_account_owner[leg.account]]
        if leg.account in owner.balance_accounts and owner.book is not None:
            if not owner.book.move(s, merchant_id, leg.account, leg.member_id, leg.amount, require_funds=require_funds and leg.amount < 0):
                raise InsufficientFunds(key)
    return True


def account_totals(s: Session, accounts: Iterable[str], merchant_id: int | None = None) -> dict[tuple[int, str, int | None], int]:
    """The ledger balance of each (merchant, account, member) among ``accounts``."""
    q = select(LedgerEntry.merchant_id, LedgerEntry.account, LedgerEntry.member_id, func.sum(LedgerEntry.amount)).where(LedgerEntry.account.in_(list(accounts))).group_by(LedgerEntry.merchant_id, LedgerEntry.account, LedgerEntry.member_id)
    if merchant_id is not None:
        q = q.where(LedgerEntry.merchant_id == merchant_id)
    return {(mid, account, member): int(total) for mid, account, member, total in s.execute(q)}


@dataclass(frozen=True)
class MemberEntry:
    transfer_id: int
    kind: str
    key: str
    created_at: datetime
    account: str
    amount: int


def member_entries(s: Session, merchant_id: int, member_id: int, accounts: Iterable[str], *, limit: int = 50, before_transfer: int | None = None) -> list[MemberEntry]:
    """A member's entries on ``accounts`` with their transfers' kind and key, newest
    transfer first: those of the ``limit`` newest transfers (before ``before_transfer``, a
    cursor) that touch them — a statement's page."""
    cond = [LedgerEntry.merchant_id == merchant_id, LedgerEntry.member_id == member_id, LedgerEntry.account.in_(list(accounts))]
    page = select(LedgerEntry.transfer_id).where(*cond).group_by(LedgerEntry.transfer_id).order_by(LedgerEntry.transfer_id.desc()).limit(limit)
    if before_transfer is not None:
        page = page.where(LedgerEntry.transfer_id < before_transfer)
    ids = list(s.scalars(page))
    if not ids:
        return []
    q = (select(LedgerTransfer.id, LedgerTransfer.kind, LedgerTransfer.key, LedgerTransfer.created_at, LedgerEntry.account, LedgerEntry.amount)
         .join(LedgerEntry, LedgerEntry.transfer_id == LedgerTransfer.id).where(LedgerTransfer.id.in_(ids), *cond).order_by(LedgerTransfer.id.desc(), LedgerEntry.id))
    return [MemberEntry(*row) for row in s.execute(q)]


def check(s: Session, merchant_id: int | None = None) -> list[Problem]:
    """The ledger invariants of RULES.md: every transfer (so all accounts) sums to zero,
    then each registered domain's own check of its balance-backed accounts, in the order
    the domains registered."""
    problems: list[Problem] = []
    q = select(LedgerEntry.merchant_id, LedgerEntry.transfer_id, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.merchant_id, LedgerEntry.transfer_id).having(func.sum(LedgerEntry.amount) != 0)
    if merchant_id is not None:
        q = q.where(LedgerEntry.merchant_id == merchant_id)
    for mid, tid, total in s.execute(q.limit(10)):
        problems.append(Problem(mid, "transfer", None, f"transfer {tid} sums to {total}, not 0"))
    for owner in _owners.values():
        if owner.book is not None:
            problems.extend(owner.book.check(s, merchant_id))
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
