"""A member's points statement at one merchant: every movement of their pending and
available points, newest first, with its reason and source — read from the ledger entries
of their points accounts (the transfer's kind gives the reason, its key the source)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli import ledger
from linli.identity import service as identity
from linli.rewards import accounts
from linli.rewards.models import PointsLot

REASONS = {
    "points_earn": "earned",  # pending, on a received order
    "points_release": "available",  # the order's after-sales window closed
    "points_redeem": "redeemed",  # paid part of an order
    "points_return": "returned",  # redeemed points back on a refund or an unpaid cancel
    "points_reverse": "reversed",  # earned points taken back by a refund of their line
    "points_expire": "expired",
    "points_reward": "reward",  # a referral programme's reward (incentives), available at once
}


@dataclass(frozen=True)
class Movement:
    id: int  # the ledger transfer (a cursor: ``before``)
    at: datetime
    reason: str
    order_id: int | None
    refund_case_id: int | None
    pending: int  # signed change of the pending points
    available: int  # signed change of the available points


def _int(part: str) -> int | None:
    return int(part) if part.isdigit() else None


def of(s: Session, member_id: int, merchant_id: int, *, limit: int = 50, before: int | None = None) -> list[Movement]:
    identity.public_merchant(s, merchant_id)
    entries = ledger.member_entries(s, merchant_id, member_id, (accounts.POINTS_PENDING, accounts.POINTS_AVAILABLE), limit=limit, before_transfer=before)
    moves: dict[int, dict] = {}
    for e in entries:
        m = moves.setdefault(e.transfer_id, {"at": e.created_at, "kind": e.kind, "parts": e.key.split(":"), "pending": 0, "available": 0})
        m["pending" if e.account == accounts.POINTS_PENDING else "available"] += e.amount
    lot_ids = [_int(m["parts"][2]) for m in moves.values() if m["kind"] == "points_expire" and len(m["parts"]) > 2]
    lot_orders = {i: o for i, o in s.execute(select(PointsLot.id, PointsLot.order_id).where(PointsLot.id.in_([i for i in lot_ids if i is not None])))} if lot_ids else {}
    out = []
    for tid, m in moves.items():
        parts, kind = m["parts"], m["kind"]
        order_id = case_id = None
        if kind == "points_expire":
            order_id = lot_orders.get(_int(parts[-1]))
        elif kind == "points_return":  # points:return:<order>:release | points:return:<order>:refund_case:<case>
            order_id = _int(parts[2]) if len(parts) > 2 else None
            case_id = _int(parts[4]) if len(parts) > 4 and parts[3] == "refund_case" else None
        elif len(parts) > 2:
            order_id = _int(parts[2])
            if kind == "points_reverse" and len(parts) > 4:
                case_id = _int(parts[4])
        out.append(Movement(tid, m["at"], REASONS.get(kind, kind), order_id, case_id, m["pending"], m["available"]))
    return out
