"""Coupon claims over HTTP against PostgreSQL, as a ratio to the raw hot-row limit.

2,000 buyers claim one template with a total of 100 (64 requests in flight, each buyer once),
then the 100 who got one check out with it (POST /orders with ``coupon_id``). Every claim
takes the same template row (the compare-and-set on ``issued``), so the raw-SQL figure to
compare with is ``../shared/limit/run.sh``'s hot-row order transaction, run in the same
session. Prints the figures, then the ratios last.

    python -m bench.coupons [--buyers 2000] [--total 100] [--inflight 64] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from sqlalchemy import func, select

from bench.common import Server, fresh_database, raw_limit
from linli import domains, migrate
from linli.catalog import service as catalog
from linli.community import service as community
from linli.config import Settings
from linli.db import Database, utcnow
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.rewards import coupons
from linli.rewards.models import Coupon
from linli.security import issue_token

SECRET = "bench-secret-0123456789abcdef0123456789"


def seed(db: Database, buyers: int, total: int) -> tuple[int, int, int, int, list[str]]:
    now = utcnow()
    with db.transaction() as s:
        admin_m = identity.get_or_create_member(s, "13800000000", now)
        admin = Principal(admin_m.id, admin_m.phone, True)
        merchant, owner_m = identity.create_merchant(s, admin, "压测优选", "13800000001", now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        c = community.create_community(s, owner, merchant.id, "云顶华府", "杭州", 30.27, 120.15, now)
        point = community.add_pickup_point(s, owner, merchant.id, c.id, "东门驿站", "东门", 30.27, 120.15, now)
        _, skus = catalog.create_product(s, owner, merchant.id, "黄金奶油草莓", "水果", [catalog.SkuInput("1盒", 6800, 10_000_000)], now)
        t = coupons.create_template(s, owner, merchant.id, coupons.TemplateIn(name="满50减10", kind="threshold", amount=1000, threshold=5000, total=total, valid_days=30), now)
        tokens = []
        for i in range(buyers):
            m = identity.get_or_create_member(s, f"137{i + 1:08d}", now)
            tokens.append(issue_token(SECRET, m.id, 3600, phone=m.phone))
    return merchant.id, point.id, skus[0].id, t.id, tokens


async def _all(inflight: int, requests) -> list[httpx.Response]:
    """Await the request coroutines, at most ``inflight`` at a time, answers in order."""
    gate = asyncio.Semaphore(inflight)

    async def one(request):
        async with gate:
            return await request

    return await asyncio.gather(*(one(r) for r in requests))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buyers", type=int, default=2000)
    ap.add_argument("--total", type=int, default=100)
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit-seconds", type=int, default=10)
    args = ap.parse_args()

    url = fresh_database("linli_bench_coupons")
    settings = Settings(database_url=url, secret_key=SECRET)
    domains.bootstrap(settings)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    merchant_id, point_id, sku_id, template_id, tokens = seed(db, args.buyers, args.total)
    env = {"LINLI_DATABASE_URL": url, "LINLI_SECRET_KEY": SECRET, "LINLI_LOG_JSON": "true", "LINLI_RATE_LIMITS": ""}
    server = Server(env, workers=args.workers)
    try:
        async def run():
            limits = httpx.Limits(max_connections=args.inflight, max_keepalive_connections=args.inflight)
            heads = [{"Authorization": f"Bearer {t}"} for t in tokens]
            async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as http:
                t0 = time.monotonic()
                claims = await _all(args.inflight, [http.post(f"/api/v1/coupons/{template_id}/claim", headers=h) for h in heads])
                claim_s = time.monotonic() - t0
                winners = [(heads[i], r.json()["id"]) for i, r in enumerate(claims) if r.status_code == 201]
                body = {"merchant_id": merchant_id, "items": [{"sku_id": sku_id, "qty": 1}], "pickup_point_id": point_id}
                t1 = time.monotonic()
                orders = await _all(args.inflight, [http.post("/api/v1/orders", headers=h, json={**body, "coupon_id": cid}) for h, cid in winners])
                return claims, claim_s, orders, time.monotonic() - t1

        claims, claim_s, orders, order_s = asyncio.run(run())
    finally:
        server.stop()
    codes = [r.status_code for r in claims]
    with db.transaction() as s:
        issued = s.scalar(select(func.count()).select_from(Coupon).where(Coupon.template_id == template_id))
        locked = s.scalar(select(func.count()).select_from(Coupon).where(Coupon.template_id == template_id, Coupon.status == "locked"))
    print("running the raw-SQL limit (../shared/limit/run.sh)…", flush=True)
    limit = raw_limit(args.limit_seconds, 16)
    hot = limit.get("order_txn_hot_sku_tps", 0.0)
    claims_per_s = len(claims) / claim_s
    print(f"claims: {len(claims)} in {claim_s:.2f} s → {claims_per_s:.0f} claims/s; {codes.count(201)} issued, {codes.count(409)} refused, {len(claims) - codes.count(201) - codes.count(409)} other; {issued} coupons in the database")
    print(f"checkout with the coupon: {len(orders)} orders in {order_s:.2f} s → {len(orders) / order_s if order_s else 0:.0f} orders/s; {sum(r.status_code == 201 for r in orders)} placed, {locked} coupons locked")
    print(f"raw-SQL limit: hot row {hot:.0f} tps")
    print(f"ratio claims {claims_per_s / hot:.3f}" if hot else "ratio claims n/a (no raw limit)")


if __name__ == "__main__":
    main()
