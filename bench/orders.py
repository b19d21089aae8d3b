"""Order throughput over HTTP against PostgreSQL, as a ratio to the raw-SQL limit.

16 concurrent clients create and pay orders (POST /orders → /pay → sandbox complete, whose
signed callback the server processes through the outbox) for a fixed time, first spread
over 1,000 SKUs, then all on one hot SKU. ``../shared/limit/run.sh`` runs in the same
session; the ratios are printed last.

    python bench/orders.py [--seconds 10] [--clients 16] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import httpx
from sqlalchemy import func, select

from bench.common import SECRET, Server, migrated_database, raw_limit
from linli.catalog import service as catalog
from linli.community import service as community
from linli.db import Database, utcnow
from linli.events import OutboxEvent
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders.models import Order
from linli.security import issue_token


def seed(db: Database, buyers: int) -> tuple[int, int, list[int], list[str]]:
    now = utcnow()
    with db.transaction() as s:
        admin_m = identity.get_or_create_member(s, "13800000000", now)
        admin = Principal(admin_m.id, admin_m.phone, True)
        merchant, owner_m = identity.create_merchant(s, admin, "压测优选", "13800000001", now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        c = community.create_community(s, owner, merchant.id, "云顶华府", "杭州", 30.27, 120.15, now)
        point = community.add_pickup_point(s, owner, merchant.id, c.id, "东门驿站", "东门", 30.27, 120.15, now)
        skus = []
        for i in range(20):
            _, rows = catalog.create_product(s, owner, merchant.id, f"商品{i}", "压测", [catalog.SkuInput(f"规格{j}", 6800, 10_000_000) for j in range(50)], now)
            skus += [k.id for k in rows]
        tokens = []
        for i in range(buyers):
            m = identity.get_or_create_member(s, f"137{i + 1:08d}", now)
            tokens.append(issue_token(SECRET, m.id, 3600, phone=m.phone))
    return merchant.id, point.id, skus, tokens


async def client_loop(http: httpx.AsyncClient, token: str, body_for, stop_at: float, counts: dict) -> None:
    h = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < stop_at:
        r = await http.post("/api/v1/orders", json=body_for(), headers=h)
        if r.status_code != 201:
            counts["errors"] += 1
            continue
        p = await http.post(f"/api/v1/orders/{r.json()['id']}/pay", headers=h)
        if p.status_code != 200:
            counts["errors"] += 1
            continue
        c = await http.post(f"/api/v1/payments/sandbox/{p.json()['payment_id']}/complete", headers=h)
        counts["ok" if c.status_code == 202 else "errors"] += 1


def run_case(url: str, db: Database, tokens: list[str], body_for, seconds: float) -> dict:
    with db.transaction() as s:
        paid_before = s.scalar(select(func.count()).select_from(Order).where(Order.status == "paid"))
    counts = {"ok": 0, "errors": 0}

    async def main():
        limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
            stop_at = time.monotonic() + seconds
            await asyncio.gather(*(client_loop(http, t, body_for, stop_at, counts) for t in tokens))

    t0 = time.monotonic()
    asyncio.run(main())
    intake = time.monotonic() - t0
    # Wait until the server has processed every callback (the outbox is empty).
    while True:
        with db.transaction() as s:
            left = s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.done_at.is_(None)))
            paid = s.scalar(select(func.count()).select_from(Order).where(Order.status == "paid")) - paid_before
        if left == 0:
            break
        time.sleep(0.2)
    total = time.monotonic() - t0
    return {"orders": counts["ok"], "errors": counts["errors"], "intake_s": intake, "paid": paid, "total_s": total, "paid_per_s": paid / total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    url, db, env = migrated_database("linli_bench_orders")
    merchant_id, point_id, skus, tokens = seed(db, args.clients)
    server = Server(env, workers=args.workers)
    try:
        rng = random.Random(7)

        def spread():
            return {"merchant_id": merchant_id, "items": [{"sku_id": rng.choice(skus), "qty": 1}], "pickup_point_id": point_id}

        def hot():
            return {"merchant_id": merchant_id, "items": [{"sku_id": skus[0], "qty": 1}], "pickup_point_id": point_id}

        results = {"spread": run_case(server.url, db, tokens, spread, args.seconds), "hot": run_case(server.url, db, tokens, hot, args.seconds)}
    finally:
        server.stop()
    print("running the raw-SQL limit (../shared/limit/run.sh)…", flush=True)
    limit = raw_limit(int(args.seconds), args.clients)
    for name, r in results.items():
        print(f"{name}: {r['orders']} orders created and paid in {r['intake_s']:.1f} s ({r['errors']} errors); {r['paid']} paid after callbacks in {r['total_s']:.1f} s → {r['paid_per_s']:.1f} orders/s")
    print(f"raw-SQL limit: spread {limit.get('order_txn_spread_sku_tps', 0):.0f} tps, hot {limit.get('order_txn_hot_sku_tps', 0):.0f} tps")
    print(f"ratio spread {results['spread']['paid_per_s'] / limit['order_txn_spread_sku_tps']:.3f}")
    print(f"ratio hot {results['hot']['paid_per_s'] / limit['order_txn_hot_sku_tps']:.3f}")


if __name__ == "__main__":
    main()
