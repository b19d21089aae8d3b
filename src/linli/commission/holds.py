"""Holds on a sharer's commission: while a case is open (a suspension, a risk case whose
reason starts ``risk:``) the sharer's money waits, and staff then release it or claw it back.

- ``hold`` writes the reason (once per reason) and moves the sharer's available records at
  this merchant to ``held``, with one ledger transfer available → held. While any reason
  remains, settlement leaves their frozen records frozen (realtime settlement queues them,
  the daily batch skips them), and money that would land in available (a monthly bonus, a
  failed payout given back) lands in held instead (``landing``).
- ``release_hold`` removes one reason; once none remains, held records go back to
  available (withdrawable again) and frozen records resume: at a realtime merchant the ones
  of orders already completed settle at once, at a T+1 merchant the next daily batch takes
  them.
- ``claw_back`` cancels the sharer's held and frozen records (the amount stays on the
  cancelled record, for the audit) into commission payable and removes the case's reason.

Races with withdrawals: a withdrawal moves the ``SharerBalance`` row first (a
compare-and-set on ``available``) and then marks records. Every move here takes that row
first too (``_lock``: bumps ``hold_moves``, which also numbers the move's ledger key), and
only then changes record states by compare-and-set, writing the transfer from exactly the
amounts that changed state. So a withdrawal and a hold run one after the other, never
interleaved, and never deadlock: a withdrawn fen is never held, a held fen never withdrawn.
Each function is idempotent: a redelivered call finds nothing left in the state it moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from linli import events, ledger
from linli.commission import accounts, settlement
from linli.commission.accounts import COMMISSION_PAYABLE, SHARER_AVAILABLE, SHARER_FROZEN, SHARER_HELD
from linli.commission.events import CommissionClawedBack
from linli.commission.models import CommissionHold, CommissionRecord, SharerBalance
from linli.commission.versions import current
from linli.db import insert_ignore
from linli.ledger import Leg

RISK_PREFIX = "risk:"  # the reasons risk cases hold under (``risk:<case>``)
SUSPENDED = "sharer_suspended"


@dataclass(frozen=True)
class HoldView:
    held: int  # fen out of reach of withdrawal until the hold ends
    frozen_waiting: int  # frozen fen (they stay frozen while held; a claw back takes them too)
    reasons: list[str]


def held(s: Session, merchant_id: int) -> set[int]:
    """The members under any hold at this merchant."""
    return set(s.scalars(select(CommissionHold.member_id).where(CommissionHold.merchant_id == merchant_id)))


def is_held(s: Session, merchant_id: int, member_id: int) -> bool:
    """Whether the member is under a hold (a risk case, a suspension) at this merchant."""
    q = select(CommissionHold.member_id).where(CommissionHold.merchant_id == merchant_id, CommissionHold.member_id == member_id).limit(1)
    return s.scalars(q).first() is not None


def reasons_of(s: Session, merchant_id: int, member_id: int) -> list[str]:
    return sorted(s.scalars(select(CommissionHold.reason).where(CommissionHold.merchant_id == merchant_id, CommissionHold.member_id == member_id)))


def landing(s: Session, merchant_id: int, member_id: int) -> tuple[str, str]:
    """Where money becoming withdrawable lands now: (record state, ledger account)."""
    return ("held", SHARER_HELD) if is_held(s, merchant_id, member_id) else ("available", SHARER_AVAILABLE)


def _lock(s: Session, merchant_id: int, member_id: int) -> tuple[int, int]:
    """Take the sharer's balance row (the lock a withdrawal takes first): (this move's
    number, the available balance under the lock)."""
    accounts.ensure_balance(s, merchant_id, member_id)
    stmt = (update(SharerBalance).where(SharerBalance.merchant_id == merchant_id, SharerBalance.member_id == member_id)
            .values(hold_moves=SharerBalance.hold_moves + 1).returning(SharerBalance.hold_moves, SharerBalance.available))
    n, available = s.execute(stmt, execution_options={"synchronize_session": False}).one()
    return int(n), int(available)


def _move_state(s: Session, merchant_id: int, member_id: int, old: str, new: str, *, positive: bool = False) -> int:
    """Compare-and-set the member's records from ``old`` to ``new``; the fen that moved."""
    cond = [CommissionRecord.merchant_id == merchant_id, CommissionRecord.member_id == member_id, CommissionRecord.state == old]
    if positive:
        cond.append(CommissionRecord.amount > 0)
    stmt = update(CommissionRecord).where(*cond).values(state=new).returning(CommissionRecord.amount)
    return sum(s.execute(stmt, execution_options={"synchronize_session": "fetch"}).scalars())


def hold(s: Session, merchant_id: int, member_id: int, reason: str, now: datetime) -> int:
    """Hold the sharer's commission under ``reason``; returns the fen moved to held now.
    A debt (a negative clawback record) stays in available, where it keeps blocking
    withdrawals until earnings cover it; only then may the move leave available below zero."""
    s.execute(insert_ignore(s, CommissionHold, {"merchant_id": merchant_id, "member_id": member_id, "reason": reason, "created_at": now}, ["merchant_id", "member_id", "reason"]))
    n, available = _lock(s, merchant_id, member_id)
    amount = _move_state(s, merchant_id, member_id, "available", "held", positive=True)
    key = f"hold:{merchant_id}:{member_id}:{reason}:{n}"
    ledger.transfer(s, merchant_id, "hold", key, [Leg(SHARER_AVAILABLE, member_id, -amount), Leg(SHARER_HELD, member_id, amount)], now, require_funds=available >= amount)
    s.flush()
    return amount


def release_hold(s: Session, merchant_id: int, member_id: int, reason: str, now: datetime) -> int:
    """Lift ``reason``. Once no reason remains, held money is available again and frozen
    records resume their schedule. Returns the fen made available (held ones and, at a
    realtime merchant, frozen ones of completed orders settled now)."""
    gone = s.execute(delete(CommissionHold).where(CommissionHold.merchant_id == merchant_id, CommissionHold.member_id == member_id, CommissionHold.reason == reason)).rowcount
    if not gone or is_held(s, merchant_id, member_id):
        return 0  # not held for this reason (a redelivery), or another reason still holds
    n, _ = _lock(s, merchant_id, member_id)
    amount = _move_state(s, merchant_id, member_id, "held", "available")
    key = f"release:{merchant_id}:{member_id}:{reason}:{n}"
    ledger.transfer(s, merchant_id, "release", key, [Leg(SHARER_HELD, member_id, -amount), Leg(SHARER_AVAILABLE, member_id, amount)], now, require_funds=True)
    if current(s, merchant_id).settlement == "realtime":
        amount += settlement.settle_queued(s, merchant_id, member_id, now)
    s.flush()
    return amount


def claw_back(s: Session, merchant_id: int, member_id: int, reason: str, now: datetime) -> int:
    """Take back the sharer's held and frozen commission at this merchant (records
    cancelled, money to commission payable) and remove ``reason``; other reasons (a
    suspension) stay. Returns the fen taken back; a second call takes nothing."""
    n, _ = _lock(s, merchant_id, member_id)
    from_held = _move_state(s, merchant_id, member_id, "held", "cancelled")
    from_frozen = _move_state(s, merchant_id, member_id, "frozen", "cancelled")
    key = f"holdclaw:{merchant_id}:{member_id}:{reason}:{n}"
    legs = [Leg(SHARER_HELD, member_id, -from_held), Leg(SHARER_FROZEN, member_id, -from_frozen), Leg(COMMISSION_PAYABLE, None, from_held + from_frozen)]
    ledger.transfer(s, merchant_id, "clawback", key, legs, now, require_funds=True)
    gone = s.execute(delete(CommissionHold).where(CommissionHold.merchant_id == merchant_id, CommissionHold.member_id == member_id, CommissionHold.reason == reason)).rowcount
    if gone or from_held or from_frozen:  # announced once: a repeat finds no hold row and no money
        events.emit(s, CommissionClawedBack(merchant_id=merchant_id, member_id=member_id, reason=reason, amount=from_held + from_frozen), merchant_id=merchant_id, at=now)
    s.flush()
    return from_held + from_frozen


def hold_view(s: Session, merchant_id: int, member_id: int) -> HoldView:
    b = accounts.balance(s, merchant_id, member_id)
    return HoldView(held=int(b.held) if b else 0, frozen_waiting=int(b.frozen) if b else 0, reasons=reasons_of(s, merchant_id, member_id))
