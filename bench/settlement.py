"""T+1 settlement of 1,000,000 frozen commission records on PostgreSQL, as a ratio to the
raw-SQL limit (``../shared/limit/run.sh``'s one-statement settlement, run in the same
session). Prints time, peak memory of this process, and the ratio last.

    python -m bench.settlement [--records 1000000] [--chunk 50000]
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import timedelta

from sqlalchemy import text

from bench.common import migrated_database, raw_limit
from linli import ledger
from linli.commission import settlement
from linli.db import Database, utcnow

SHARERS = 50_000
LINES = 20


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(db: Database, records: int) -> None:
    """Members, one merchant, a few orders and lines, and ``records`` frozen records due
    yesterday (queued for the batch as completed orders queue them), with the balances and
    accrual ledger that made them — all in SQL."""
    now = utcnow()
    due = now - timedelta(days=2)
    with db.engine.begin() as c:
        c.execute(text("INSERT INTO members (phone, nickname, created_at, updated_at) SELECT '136' || lpad(g::text, 8, '0'), 'm' || g, now(), now() FROM generate_series(1, :n) g"), {"n": SHARERS})
        c.execute(text("INSERT INTO merchants (name, status, created_at) VALUES ('压测优选', 'active', now())"))
        c.execute(text("INSERT INTO products (merchant_id, name, category, description, status, created_at) VALUES (1, '草莓', '水果', '', 'active', now())"))
        c.execute(text("INSERT INTO skus (merchant_id, product_id, name, price, stock, sold, created_at) VALUES (1, 1, '1盒', 6800, 0, 0, now())"))
        c.execute(text(
            "INSERT INTO orders (merchant_id, member_id, status, subtotal, coupon, points_fen, stored_value, total_paid, payable, refunded, pickup_failures, created_at, expires_at) "
            "SELECT 1, g, 'completed', 6800, 0, 0, 0, 6800, 6800, 0, 0, now(), now() FROM generate_series(1, :n) g"), {"n": LINES})
        c.execute(text(
            "INSERT INTO order_lines (order_id, merchant_id, sku_id, product_id, product_name, sku_name, category, qty, base_price, unit_price, amount, coupon, points_fen, paid, refunded, refund_reserved) "
            "SELECT g, 1, 1, 1, '草莓', '1盒', '水果', 1, 6800, 6800, 6800, 0, 0, 6800, 0, 0 FROM generate_series(1, :n) g"), {"n": LINES})
        c.execute(text(
            "INSERT INTO commission_records (merchant_id, order_id, line_id, member_id, level, kind, source, rate_bp, base, amount, state, rule_version, created_at, due_at) "
            "SELECT 1, 1 + g % :l, 1 + g % :l, 1 + (g::bigint * 7919) % :m, 1 + g % 2, 'accrual', 'accrual:' || g, 2000, 6800, 100 + g % 900, 'frozen', 1, :now, :due "
            "FROM generate_series(1, :n) g"), {"l": LINES, "m": SHARERS, "n": records, "now": now, "due": due})
        c.execute(text("INSERT INTO commission_due (record_id, merchant_id, member_id, due_at) SELECT id, merchant_id, member_id, due_at FROM commission_records"))
        c.execute(text("INSERT INTO ledger_transfers (merchant_id, kind, key, created_at) VALUES (1, 'accrual', 'bench:seed', now())"))
        c.execute(text(
            "INSERT INTO ledger_entries (transfer_id, merchant_id, account, member_id, amount) "
            "SELECT 1, 1, 'sharer_frozen', member_id, SUM(amount) FROM commission_records GROUP BY member_id "
            "UNION ALL SELECT 1, 1, 'commission_payable', NULL, -SUM(amount) FROM commission_records"))
        c.execute(text("INSERT INTO sharer_balances (merchant_id, member_id, frozen, available) SELECT 1, member_id, SUM(amount), 0 FROM commission_records GROUP BY member_id"))
        c.execute(text("ANALYZE"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=settlement.CHUNK)
    args = ap.parse_args()
    _, db, _ = migrated_database("linli_bench_settle")
    print(f"seeding {args.records:,} frozen records…", flush=True)
    seed(db, args.records)
    before = rss_mb()
    t0 = time.perf_counter()
    moved = settlement.settle_due(db, utcnow(), chunk=args.chunk)
    elapsed = time.perf_counter() - t0
    peak = rss_mb()
    with db.transaction() as s:
        problems = ledger.check(s, 1)
    print(f"settled {moved:,} records in {elapsed:.2f} s ({moved / elapsed:,.0f} records/s), chunk {args.chunk:,}")
    print(f"peak memory {peak:.0f} MB (before the run {before:.0f} MB); ledger check: {'ok' if not problems else problems[0]}")
    print("running the raw-SQL limit (../shared/limit/run.sh)…", flush=True)
    limit_ms = raw_limit(5, 16)["settle_1m_commissions_ms"] * args.records / 1_000_000
    print(f"raw-SQL settlement of the same count: {limit_ms / 1000:.2f} s")
    print(f"ratio {elapsed * 1000 / limit_ms:.2f}")


if __name__ == "__main__":
    main()
