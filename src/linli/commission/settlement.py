"""Settlement. Realtime merchants settle each order as it completes (``service``);
``t_plus_1`` merchants settle in a daily batch, here.

The batch is set-based SQL, chunk by chunk. A completed order's frozen records are queued
in ``commission_due``; each chunk is one transaction that takes up to ``CHUNK`` due rows
off the queue, moves their records from frozen to available by compare-and-set on their
state, sums what moved per sharer into ``settlement_totals``, and from those sums writes
one balanced transfer per merchant and sharer (frozen −Σ, available +Σ; key
``settle:b<batch>:<merchant>:<member>``) and moves the balance rows.
Python never holds the records, so memory stays flat; a run killed halfway leaves every
chunk either fully done or untouched, and running it again moves only what is still
queued: each record moves exactly once.

Why it is fast on PostgreSQL: the records' indexes cover no column the batch changes and
their pages keep free space, so each record update is heap-only (HOT) and touches no
index; the queue row is deleted, which touches no index either. PostgreSQL does the
whole chunk in one statement (data-modifying CTEs); SQLite, the embedded default, runs
the same steps as separate statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from linli import ledger
from linli.commission.accounts import SHARER_AVAILABLE, SHARER_FROZEN
from linli.commission.models import CommissionDue, CommissionRecord, SettlementBatch, SettlementTotal
from linli.db import Database
from linli.ledger import Leg
from linli.timeutil import local_day_start

# Due rows per atomic chunk: one transfer per sharer per chunk, so larger chunks write
# fewer transfers; smaller ones keep each transaction shorter. A million records settle
# in about 11 s on the 2-core CI machine (1.8-2.0x the raw-SQL single statement), so a
# day's batch is one or a few chunks.
CHUNK = 1_000_000


def cutoff_for(as_of: datetime) -> datetime:
    """T+1: records whose order completed before today (Asia/Shanghai) are due."""
    return local_day_start(as_of)


def mark_due(s: Session, order_id: int, at: datetime) -> None:
    """Queue an order's frozen records for the next daily batch (once)."""
    params = {"at": at, "oid": order_id}
    s.execute(text("UPDATE commission_records SET due_at = :at WHERE order_id = :oid AND state = 'frozen' AND due_at IS NULL"), params)
    s.execute(text(
        "INSERT INTO commission_due (record_id, merchant_id, member_id, due_at) "
        "SELECT r.id, r.merchant_id, r.member_id, r.due_at FROM commission_records r "
        "WHERE r.order_id = :oid AND r.state = 'frozen' AND NOT EXISTS (SELECT 1 FROM commission_due d WHERE d.record_id = r.id)"), params)


def queue_record(s: Session, record_id: int, at: datetime) -> None:
    """Queue one frozen record (a held sharer's, left behind by realtime settlement)."""
    params = {"at": at, "id": record_id}
    s.execute(text("UPDATE commission_records SET due_at = COALESCE(due_at, :at) WHERE id = :id"), params)
    s.execute(text(
        "INSERT INTO commission_due (record_id, merchant_id, member_id, due_at) "
        "SELECT r.id, r.merchant_id, r.member_id, r.due_at FROM commission_records r "
        "WHERE r.id = :id AND r.state = 'frozen' AND NOT EXISTS (SELECT 1 FROM commission_due d WHERE d.record_id = r.id)"), params)


def settle_records(s: Session, record_ids: Iterable[int], now: datetime) -> tuple[int, int]:
    """Realtime settlement of these records: each frozen one becomes available now, by
    compare-and-set on its state and one transfer keyed ``settle:<record>`` (so each moves
    once, whoever gets there first). Returns (records moved, fen moved)."""
    moved = fen = 0
    for rid in record_ids:
        row = s.execute(update(CommissionRecord).where(CommissionRecord.id == rid, CommissionRecord.state == "frozen").values(state="available", settled_at=now)
                        .returning(CommissionRecord.merchant_id, CommissionRecord.member_id, CommissionRecord.amount)).first()
        if row is None:
            continue
        merchant_id, member_id, amount = row
        ledger.transfer(s, merchant_id, "settle", f"settle:{rid}", [Leg(SHARER_FROZEN, member_id, -amount), Leg(SHARER_AVAILABLE, member_id, amount)], now)
        moved, fen = moved + 1, fen + amount
    return moved, fen


def settle_queued(s: Session, merchant_id: int, member_id: int, now: datetime) -> int:
    """A released sharer at a realtime merchant: the records their hold kept in the queue
    (orders already completed) settle now instead of waiting for the daily batch. Returns
    the fen settled."""
    ids = sorted(s.scalars(select(CommissionDue.record_id).where(CommissionDue.merchant_id == merchant_id, CommissionDue.member_id == member_id)))
    _, fen = settle_records(s, ids, now)
    if ids:
        s.execute(delete(CommissionDue).where(CommissionDue.record_id.in_(ids)))
    return fen


_PICK = """
SELECT d.record_id FROM commission_due d
WHERE d.due_at < :cutoff
  AND NOT EXISTS (SELECT 1 FROM commission_holds h WHERE h.merchant_id = d.merchant_id AND h.member_id = d.member_id)
LIMIT :chunk
"""
# PostgreSQL: one statement. Queue rows leave whatever state their record is in (a record
# cancelled by a refund is simply dropped from the queue); only frozen ones move.
_PG_MOVE = f"""
WITH picked AS (DELETE FROM commission_due WHERE record_id IN ({_PICK}) RETURNING record_id),
moved AS (
    UPDATE commission_records r SET state = 'available', settled_at = :now, batch_id = :b
    FROM picked WHERE r.id = picked.record_id AND r.state = 'frozen'
    RETURNING r.merchant_id, r.member_id, r.amount),
totals AS (
    INSERT INTO settlement_totals (batch_id, merchant_id, member_id, records, amount)
    SELECT :b, merchant_id, member_id, COUNT(*), SUM(amount) FROM moved GROUP BY merchant_id, member_id
    RETURNING records)
SELECT (SELECT COUNT(*) FROM picked), (SELECT COALESCE(SUM(records), 0) FROM totals)
"""
# SQLite: the same steps one by one (no data-modifying CTEs).
_LITE_MOVE = f"""
UPDATE commission_records SET state = 'available', settled_at = :now, batch_id = :b
WHERE id IN ({_PICK}) AND state = 'frozen'
"""
_LITE_TOTALS = """
INSERT INTO settlement_totals (batch_id, merchant_id, member_id, records, amount)
SELECT :b, merchant_id, member_id, COUNT(*), SUM(amount) FROM commission_records
WHERE batch_id = :b AND id IN (SELECT record_id FROM commission_due WHERE due_at < :cutoff)
GROUP BY merchant_id, member_id
"""
_LITE_DEQUEUE = """
DELETE FROM commission_due WHERE due_at < :cutoff
  AND record_id IN (SELECT id FROM commission_records WHERE id = commission_due.record_id AND state <> 'frozen')
"""
# A batch spans every T+1 merchant and one member may share for several of them: the
# transfer key, like the totals' key, is (batch, merchant, member).
_TRANSFERS = """
INSERT INTO ledger_transfers (merchant_id, kind, key, created_at)
SELECT merchant_id, 'settle', 'settle:b' || :b || ':' || merchant_id || ':' || member_id, :now FROM settlement_totals WHERE batch_id = :b
"""
_ENTRIES = """
INSERT INTO ledger_entries (transfer_id, merchant_id, account, member_id, amount)
SELECT t.id, x.merchant_id, leg.account, x.member_id, leg.sign * x.amount
FROM settlement_totals x
JOIN ledger_transfers t ON t.key = 'settle:b' || :b || ':' || x.merchant_id || ':' || x.member_id AND t.merchant_id = x.merchant_id
CROSS JOIN (SELECT 'sharer_frozen' AS account, -1 AS sign UNION ALL SELECT 'sharer_available', 1) leg
WHERE x.batch_id = :b
"""
_BALANCES = """
UPDATE sharer_balances SET frozen = sharer_balances.frozen - x.amount, available = sharer_balances.available + x.amount
FROM settlement_totals x WHERE x.batch_id = :b AND sharer_balances.merchant_id = x.merchant_id AND sharer_balances.member_id = x.member_id
"""
_BATCH = """
UPDATE settlement_batches SET records = (SELECT COALESCE(SUM(records), 0) FROM settlement_totals WHERE batch_id = :b),
    amount = (SELECT COALESCE(SUM(amount), 0) FROM settlement_totals WHERE batch_id = :b) WHERE id = :b
"""


def run_chunk(s: Session, cutoff: datetime, now: datetime, chunk: int = CHUNK) -> tuple[int, int]:
    """One atomic chunk; returns (queue rows taken, records moved) — (0, 0) when nothing
    is due."""
    batch = SettlementBatch(cutoff=cutoff, started_at=now)
    s.add(batch)
    s.flush()
    params = {"b": batch.id, "now": now, "cutoff": cutoff, "chunk": chunk}
    if s.get_bind().dialect.name == "postgresql":
        taken, moved = s.execute(text(_PG_MOVE), params).one()
    else:
        taken = s.execute(text(f"SELECT COUNT(*) FROM ({_PICK}) x"), params).scalar() or 0
        if taken:
            s.execute(text(_LITE_MOVE), params)
            s.execute(text(_LITE_TOTALS), params)
            s.execute(text(_LITE_DEQUEUE), params)
        moved = s.execute(text("SELECT COALESCE(SUM(records), 0) FROM settlement_totals WHERE batch_id = :b"), params).scalar() or 0
    if moved == 0:
        s.delete(batch)
        return taken, 0
    for sql in (_TRANSFERS, _ENTRIES, _BALANCES, _BATCH):
        s.execute(text(sql), params)
    _hold_again(s, batch.id, now)
    return taken, moved


_HELD_NOW = """
SELECT DISTINCT x.merchant_id, x.member_id FROM settlement_totals x
JOIN commission_holds h ON h.merchant_id = x.merchant_id AND h.member_id = x.member_id
WHERE x.batch_id = :b ORDER BY x.merchant_id, x.member_id
"""


def _hold_again(s: Session, batch_id: int, now: datetime) -> None:
    """A hold that committed after the chunk's pick read "not held" (PostgreSQL: one
    statement, one snapshot) but before ``_BALANCES`` took the sharer's balance row: what the
    chunk made available goes to held, as the hold would have moved it. Asked after the
    balance rows are taken, so every such hold is seen here; a later one waits for this
    chunk and moves the money itself."""
    from linli.commission import holds  # holds builds on this module (release settles the queue)

    for merchant_id, member_id in s.execute(text(_HELD_NOW), {"b": batch_id}).all():
        reasons = holds.reasons_of(s, merchant_id, member_id)
        if reasons:
            holds.hold(s, merchant_id, member_id, reasons[0], now)


def settle_due(db: Database, as_of: datetime, *, chunk: int = CHUNK) -> int:
    cutoff = cutoff_for(as_of)
    total = 0
    while True:
        with db.transaction() as s:
            taken, moved = run_chunk(s, cutoff, as_of, chunk)
        total += moved
        if taken < chunk:
            return total


def batches_of(s: Session, merchant_id: int, limit: int = 60) -> list[tuple[int, datetime, int, int]]:
    """(batch id, settled at, records, fen) of a merchant's share of each batch."""
    rows = s.execute(
        select(SettlementTotal.batch_id, func.min(SettlementBatch.started_at), func.sum(SettlementTotal.records), func.sum(SettlementTotal.amount))
        .join(SettlementBatch, SettlementBatch.id == SettlementTotal.batch_id)
        .where(SettlementTotal.merchant_id == merchant_id)
        .group_by(SettlementTotal.batch_id)
        .order_by(SettlementTotal.batch_id.desc())
        .limit(limit)
    )
    return [(b, at, int(n), int(total or 0)) for b, at, n, total in rows]
