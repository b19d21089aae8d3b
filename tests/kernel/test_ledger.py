"""The kernel ledger: accounts belong to a registered domain, and ``check`` runs every
domain's balance book (the next domains, rewards, put their accounts on it)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from linli import ledger
from linli.commission.accounts import COMMISSION_PAYABLE
from linli.ledger import InsufficientFunds, LedgerTransfer, Leg, Problem, UnknownAccount

WALLET, SOURCE = "test_wallet", "test_source"


class _Book:
    """Balance rows kept in memory: enough to show the ledger moves and checks them."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, str, int | None], int] = {}

    def move(self, s, merchant_id, account, member_id, amount, *, require_funds):
        key = (merchant_id, account, member_id)
        if require_funds and self.rows.get(key, 0) < -amount:
            return False
        self.rows[key] = self.rows.get(key, 0) + amount
        return True

    def check(self, s, merchant_id):
        totals = ledger.account_totals(s, [WALLET], merchant_id)
        return [Problem(k[0], k[1], k[2], f"ledger {v}, row {self.rows.get(k, 0)}") for k, v in sorted(totals.items()) if self.rows.get(k, 0) != v]


@pytest.fixture
def book():
    b = _Book()
    ledger.register_accounts("kernel_test", [WALLET, SOURCE], book=b, balance_accounts=[WALLET])
    yield b
    ledger.register_accounts("kernel_test", [])


def _transfers(db) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(LedgerTransfer))


def test_a_transfer_to_an_account_no_domain_owns_is_refused_and_writes_nothing(db, merchant, clock):
    with pytest.raises(UnknownAccount), db.transaction() as s:
        ledger.transfer(s, merchant.id, "accrual", "test:unknown", [Leg(COMMISSION_PAYABLE, None, -500), Leg("nobody_owns_this", None, 500)], clock())
    assert _transfers(db) == 0


def test_another_domains_account_cannot_be_claimed():
    with pytest.raises(ValueError, match="already belongs to commission"):
        ledger.register_accounts("kernel_test", [COMMISSION_PAYABLE])


def test_ledger_check_runs_every_registered_domains_book(db, merchant, clock, book):
    with db.transaction() as s:
        assert ledger.transfer(s, merchant.id, "grant", "test:grant", [Leg(SOURCE, None, -300), Leg(WALLET, None, 300)], clock())
        assert not ledger.transfer(s, merchant.id, "grant", "test:grant", [Leg(SOURCE, None, -300), Leg(WALLET, None, 300)], clock())
    assert book.rows == {(merchant.id, WALLET, None): 300}
    with db.transaction() as s:
        assert ledger.check(s, merchant.id) == []
    book.rows[(merchant.id, WALLET, None)] = 250  # a row that drifted from its entries
    with db.transaction() as s:
        assert ledger.check(s, merchant.id) == [Problem(merchant.id, WALLET, None, "ledger 300, row 250")]


def test_taking_more_than_a_balance_holds_is_refused_whole(db, merchant, clock, book):
    with pytest.raises(InsufficientFunds), db.transaction() as s:
        ledger.transfer(s, merchant.id, "spend", "test:spend", [Leg(WALLET, None, -100), Leg(SOURCE, None, 100)], clock(), require_funds=True)
    assert _transfers(db) == 0
