"""Rewards' accounts on the kernel ledger (linli.ledger) and the member balance rows.

Points accounts count points (one point is worth one fen when redeemed); stored-value
accounts count fen. A transfer never mixes the two. Member-side accounts are
balance-backed: their ``RewardBalance`` column moves in the same transaction as the entry
(``RewardBook``), so a spend is a compare-and-set that never takes a balance below zero,
while a reversal (a refund of an order whose points were spent) may, and then blocks
redemption until later earnings cover it.

Movements (debit → credit, each one balanced transfer with a unique key):
- earn:     points_issued → points_pending;   release: points_pending → points_available
- redeem:   points_available → points_redeemed; return on refund: the reverse
- expire:   points_available → points_expired; reverse earned: points_pending/available → points_issued
  (of a lot that expired: points_expired → points_issued for what expired; rewards/earning.py)
- top-up:   sv_funding → sv_principal, sv_bonus_granted → sv_bonus
- spend:    sv_principal / sv_bonus → sv_spent; return on refund: the reverse
- refund principal: sv_principal → sv_funding (and → sv_held_back for principal held back
  because bonus due to be forfeited was spent), forfeited bonus: sv_bonus → sv_bonus_granted;
  when spent bonus comes back it settles what was held back: sv_bonus → sv_bonus_granted and
  sv_held_back → sv_funding (paid out)
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from linli import ledger
from linli.db import insert_ignore
from linli.ledger import Problem
from linli.rewards.models import PointsLot, RewardBalance, Topup

POINTS_ISSUED = "points_issued"
POINTS_PENDING = "points_pending"
POINTS_AVAILABLE = "points_available"
POINTS_REDEEMED = "points_redeemed"
POINTS_EXPIRED = "points_expired"
SV_FUNDING = "sv_funding"
SV_BONUS_GRANTED = "sv_bonus_granted"
SV_PRINCIPAL = "sv_principal"
SV_BONUS = "sv_bonus"
SV_SPENT = "sv_spent"
SV_HELD_BACK = "sv_held_back"
_BALANCE_COLUMN = {POINTS_PENDING: "points_pending", POINTS_AVAILABLE: "points_available", SV_PRINCIPAL: "sv_principal", SV_BONUS: "sv_bonus", SV_HELD_BACK: "sv_held_back"}
ACCOUNTS = [POINTS_ISSUED, POINTS_PENDING, POINTS_AVAILABLE, POINTS_REDEEMED, POINTS_EXPIRED, SV_FUNDING, SV_BONUS_GRANTED, SV_PRINCIPAL, SV_BONUS, SV_SPENT, SV_HELD_BACK]


def ensure_balance(s: Session, merchant_id: int, member_id: int) -> None:
    s.execute(insert_ignore(s, RewardBalance, {"merchant_id": merchant_id, "member_id": member_id, "points_pending": 0, "points_available": 0, "sv_principal": 0, "sv_bonus": 0, "sv_held_back": 0}, ["merchant_id", "member_id"]))


def balance(s: Session, merchant_id: int, member_id: int) -> RewardBalance:
    row = s.get(RewardBalance, (merchant_id, member_id))
    return row if row is not None else RewardBalance(merchant_id=merchant_id, member_id=member_id, points_pending=0, points_available=0, sv_principal=0, sv_bonus=0, sv_held_back=0)


class RewardBook:
    """The ledger's ``BalanceBook`` for the member-side points and stored-value accounts."""

    def move(self, s: Session, merchant_id: int, account: str, member_id: int | None, amount: int, *, require_funds: bool) -> bool:
        column = _BALANCE_COLUMN[account]
        ensure_balance(s, merchant_id, member_id)
        col = getattr(RewardBalance, column)
        stmt = update(RewardBalance).where(RewardBalance.merchant_id == merchant_id, RewardBalance.member_id == member_id)
        if require_funds:
            stmt = stmt.where(col >= -amount)
        return s.execute(stmt.values({column: col + amount})).rowcount == 1

    def check(self, s: Session, merchant_id: int | None) -> list[Problem]:
        """Each member's balance row equals the ledger; each points balance equals what its
        lots hold (pending lots for pending, available lots for available); principal held
        back equals what is held back on the member's top-ups."""
        totals = ledger.account_totals(s, _BALANCE_COLUMN, merchant_id)
        rows: dict[tuple[int, str, int], int] = {}
        q = select(RewardBalance)
        if merchant_id is not None:
            q = q.where(RewardBalance.merchant_id == merchant_id)
        for b in s.scalars(q):
            for account, column in _BALANCE_COLUMN.items():
                rows[(b.merchant_id, account, b.member_id)] = getattr(b, column)
        lots: dict[tuple[int, str, int], int] = {}
        lq = select(PointsLot.merchant_id, PointsLot.state, PointsLot.member_id, func.sum(PointsLot.remaining)).where(PointsLot.state.in_(("pending", "available"))).group_by(PointsLot.merchant_id, PointsLot.state, PointsLot.member_id)
        if merchant_id is not None:
            lq = lq.where(PointsLot.merchant_id == merchant_id)
        for mid, state, member, total in s.execute(lq):
            lots[(mid, POINTS_PENDING if state == "pending" else POINTS_AVAILABLE, member)] = int(total)
        hq = select(Topup.merchant_id, Topup.member_id, func.sum(Topup.held_back)).where(Topup.held_back != 0).group_by(Topup.merchant_id, Topup.member_id)
        if merchant_id is not None:
            hq = hq.where(Topup.merchant_id == merchant_id)
        held = {(mid, SV_HELD_BACK, member): int(total) for mid, member, total in s.execute(hq)}
        problems = []
        for key in sorted(set(totals) | set(rows) | set(lots) | set(held), key=lambda k: (k[0], k[2] or 0, k[1])):
            lv, bv = totals.get(key, 0), rows.get(key, 0)
            if lv != bv:
                problems.append(Problem(key[0], key[1], key[2], f"ledger {lv}, balance row {bv}"))
            elif key[1] in (POINTS_PENDING, POINTS_AVAILABLE) and lots.get(key, 0) != lv:
                problems.append(Problem(key[0], key[1], key[2], f"ledger {lv}, points lots {lots.get(key, 0)}"))
            elif key[1] == SV_HELD_BACK and held.get(key, 0) != lv:
                problems.append(Problem(key[0], key[1], key[2], f"ledger {lv}, held back on top-ups {held.get(key, 0)}"))
        return problems


ledger.register_accounts("rewards", ACCOUNTS, book=RewardBook(), balance_accounts=_BALANCE_COLUMN)
