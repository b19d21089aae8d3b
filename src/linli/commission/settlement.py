"""Settlement. Realtime merchants settle each order as it completes (``service``);
``t_plus_1`` merchants settle in a daily batch, here.

The batch is set-based SQL, chunk by chunk: each chunk is one transaction that moves up
to ``CHUNK`` due frozen records to available by compare-and-set on their state, writes one
balanced transfer per sharer for the chunk (frozen −Σ, available +Σ), and moves the
balance rows — so Python never holds the records, memory stays flat, and a run killed
halfway leaves every chunk either fully done or untouched. Running it again moves only
what is still frozen: each record moves exactly once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from linli.commission.models import CommissionRecord, SettlementBatch
from linli.db import Database
from linli.timeutil import local_day_start

# Records per atomic chunk: large enough that a chunk writes one transfer per sharer for
# many records, small enough to keep each transaction short.
CHUNK = 200_000


def cutoff_for(as_of: datetime) -> datetime:
    """T+1: records whose order completed before today (Asia/Shanghai) are due."""
    return local_day_start(as_of)


def mark_due(s: Session, order_id: int, at: datetime) -> None:
    s.execute(text("UPDATE commission_records SET due_at = :at WHERE order_id = :oid AND state = 'frozen' AND due_at IS NULL"), {"at": at, "oid": order_id})


_MOVE = """
UPDATE commission_records SET state = 'available', settled_at = :now, batch_id = :b
WHERE id IN (
    SELECT r.id FROM commission_records r
    WHERE r.state = 'frozen' AND r.due_at IS NOT NULL AND r.due_at < :cutoff
      AND NOT EXISTS (SELECT 1 FROM commission_holds h WHERE h.merchant_id = r.merchant_id AND h.member_id = r.member_id)
    LIMIT :chunk)
  AND state = 'frozen'
"""
_SUMS = "SELECT merchant_id, member_id, SUM(amount) AS total FROM commission_records WHERE batch_id = :b GROUP BY merchant_id, member_id"
_TRANSFERS = f"""
INSERT INTO ledger_transfers (merchant_id, kind, key, created_at)
SELECT merchant_id, 'settle', 'settle:b' || :b || ':' || member_id, :now FROM ({_SUMS}) x
"""
_ENTRIES = f"""
INSERT INTO ledger_entries (transfer_id, merchant_id, account, member_id, amount)
SELECT t.id, x.merchant_id, leg.account, x.member_id, leg.sign * x.total
FROM ({_SUMS}) x
JOIN ledger_transfers t ON t.key = 'settle:b' || :b || ':' || x.member_id
CROSS JOIN (SELECT 'sharer_frozen' AS account, -1 AS sign UNION ALL SELECT 'sharer_available', 1) leg
"""
_BALANCES = f"""
UPDATE sharer_balances SET frozen = sharer_balances.frozen - x.total, available = sharer_balances.available + x.total
FROM ({_SUMS}) x WHERE sharer_balances.merchant_id = x.merchant_id AND sharer_balances.member_id = x.member_id
"""
_TOTALS = "UPDATE settlement_batches SET records = (SELECT COUNT(*) FROM commission_records WHERE batch_id = :b), amount = (SELECT COALESCE(SUM(amount), 0) FROM commission_records WHERE batch_id = :b) WHERE id = :b"


def run_chunk(s: Session, cutoff: datetime, now: datetime, chunk: int = CHUNK) -> int:
    """One atomic chunk; returns the records moved (0 when nothing is due)."""
    batch = SettlementBatch(cutoff=cutoff, started_at=now)
    s.add(batch)
    s.flush()
    params = {"b": batch.id, "now": now, "cutoff": cutoff, "chunk": chunk}
    moved = s.execute(text(_MOVE), params).rowcount
    if moved == 0:
        s.delete(batch)
        return 0
    for sql in (_TRANSFERS, _ENTRIES, _BALANCES, _TOTALS):
        s.execute(text(sql), params)
    return moved


def settle_due(db: Database, as_of: datetime, *, chunk: int = CHUNK) -> int:
    cutoff = cutoff_for(as_of)
    total = 0
    while True:
        with db.transaction() as s:
            moved = run_chunk(s, cutoff, as_of, chunk)
        total += moved
        if moved < chunk:
            return total


def batches_of(s: Session, merchant_id: int, limit: int = 60) -> list[tuple[int, datetime, int, int]]:
    """(batch id, settled at, records, fen) of a merchant's share of each batch."""
    rows = s.execute(
        select(CommissionRecord.batch_id, func.min(CommissionRecord.settled_at), func.count(), func.sum(CommissionRecord.amount))
        .where(CommissionRecord.merchant_id == merchant_id, CommissionRecord.batch_id.is_not(None))
        .group_by(CommissionRecord.batch_id)
        .order_by(CommissionRecord.batch_id.desc())
        .limit(limit)
    )
    return [(b, at, int(n), int(total or 0)) for b, at, n, total in rows]
