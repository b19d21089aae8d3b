"""Flash-sale order intake over HTTP against PostgreSQL, with the Redis gate and without,
as a ratio to the raw hot-SKU limit.

2,000 simulated buyers (at most ``--in-flight`` requests open at once) rush a flash offer of
100 units (one each), then one of 10,000 units (five each); each buyer keeps ordering until
refused, so the 10,000 sell out exactly when every buyer has had their five.
Every case runs against a real ``linli serve`` subprocess, once with ``LINLI_REDIS_URL`` and
once without. ``../shared/limit/run.sh`` runs in the same session; the ratios are printed last.

    python -m bench.flash_sale [--buyers 2000] [--in-flight 64] [--workers 2] [--units 100,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import timedelta

import httpx
from sqlalchemy import func, insert, select

from bench.common import Server, fresh_database, raw_limit
from linli import domains, migrate
from linli.campaigns import rules
from linli.campaigns import service as campaigns
from linli.campaigns.models import Offer
from linli.catalog import service as catalog
from linli.community import service as community
from linli.config import Settings
from linli.db import Database, utcnow
from linli.identity import service as identity
from linli.identity.models import Member
from linli.identity.service import Principal
from linli.orders.models import Order
from linli.security import issue_token

SECRET = "bench-secret-0123456789abcdef0123456789"
REDIS_URL = os.environ.get("LINLI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
LIMITS = {100: 1, 10_000: 5}  # units on sale → limit per member


def seed(db: Database, buyers: int) -> tuple[Principal, int, int, int, list[str]]:
    now = utcnow()
    with db.transaction() as s:
        admin_m = identity.get_or_create_member(s, "13800000000", now)
        merchant, owner_m = identity.create_merchant(s, Principal(admin_m.id, admin_m.phone, True), "秒杀优选", "13800000001", now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        c = community.create_community(s, owner, merchant.id, "云顶华府", "杭州", 30.27, 120.15, now)
        point = community.add_pickup_point(s, owner, merchant.id, c.id, "东门驿站", "东门", 30.27, 120.15, now)
        _, rows = catalog.create_product(s, owner, merchant.id, "黄金奶油草莓", "水果", [catalog.SkuInput("1盒", 6800, 10_000_000)], now)
        phones = [f"136{i + 1:08d}" for i in range(buyers)]
        s.execute(insert(Member), [{"phone": p, "nickname": f"邻居{p[-4:]}", "created_at": now, "updated_at": now} for p in phones])
        ids = dict(s.execute(select(Member.phone, Member.id).where(Member.phone.in_(phones))).all())
        tokens = [issue_token(SECRET, ids[p], 7200, phone=p) for p in phones]
    return owner, merchant.id, point.id, rows[0].id, tokens


def new_sale(db: Database, owner: Principal, merchant_id: int, sku_id: int, units: int, limit: int) -> tuple[int, int]:
    now = utcnow()
    with db.transaction() as s:
        spec = rules.CampaignSpec(kind="flash_sale", title=f"整点秒杀 {units} 份", starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=2))
        c = campaigns.create_campaign(s, owner, merchant_id, spec, now=now)
        o = campaigns.add_offer(s, owner, merchant_id, c.id, campaigns.OfferSpec(sku_id=sku_id, price=990, quota=units, limit_per_member=limit), now)
    return c.id, o.id


async def buyer(http: httpx.AsyncClient, token: str, body: dict, t0: float, tally: dict) -> None:
    h = {"Authorization": f"Bearer {token}"}
    while True:
        try:
            r = await http.post("/api/v1/orders", json=body, headers=h)
        except httpx.TransportError:  # not retried: the order may exist; the counts below come from the database
            tally["errors"] += 1
            return
        tally["requests"] += 1
        if r.status_code == 201:
            tally["accepted"] += 1
            tally["last_accept"] = time.monotonic() - t0
            continue
        if r.status_code != 409 or r.json().get("code") not in ("campaign.sold_out", "campaign.member_limit"):
            tally["errors"] += 1
        return


def run_case(url: str, db: Database, tokens: list[str], in_flight: int, body: dict, offer_id: int, units: int) -> dict:
    tally = {"requests": 0, "accepted": 0, "errors": 0, "last_accept": 0.0}

    async def main():
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight, keepalive_expiry=2)
        async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as http:
            t0 = time.monotonic()
            await asyncio.gather(*(buyer(http, t, body, t0, tally) for t in tokens))
            return time.monotonic() - t0

    total = asyncio.run(main())
    with db.transaction() as s:
        sold = s.scalar(select(Offer.sold).where(Offer.id == offer_id))
        live = s.scalar(select(func.count()).select_from(Order).where(Order.campaign_id == body["campaign_id"], Order.status != "cancelled"))
        expired = s.scalar(select(func.count()).select_from(Order).where(Order.campaign_id == body["campaign_id"], Order.status == "cancelled"))
    # Never oversold; a run longer than 15 minutes sees unpaid orders expire and their units return.
    assert sold == live <= units and tally["accepted"] <= live + expired, (sold, live, expired, tally)
    sell_out = tally["last_accept"] if sold + expired >= units else float("nan")
    return {**tally, "sold": sold, "expired": expired, "sell_out_s": sell_out, "total_s": total, "accepted_per_s": (live + expired) / sell_out, "requests_per_s": tally["requests"] / total}


def clear_gate_keys() -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(match="linli:flash:*"))
    if keys:
        r.delete(*keys)
    r.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buyers", type=int, default=2000)
    ap.add_argument("--in-flight", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--units", default="100,10000", help="comma-separated flash stock sizes")
    ap.add_argument("--limit-seconds", type=int, default=10)
    args = ap.parse_args()

    url = fresh_database("linli_bench_flash")
    settings = Settings(database_url=url, secret_key=SECRET)
    domains.bootstrap(settings)
    db = Database(settings.database_url)
    migrate.upgrade(db)
    owner, merchant_id, point_id, sku_id, tokens = seed(db, args.buyers)
    clear_gate_keys()
    results = {}
    for gate in ("database", "redis"):
        env = {"LINLI_DATABASE_URL": url, "LINLI_SECRET_KEY": SECRET, "LINLI_LOG_JSON": "true", "LINLI_RATE_LIMITS": ""}
        if gate == "redis":
            env["LINLI_REDIS_URL"] = REDIS_URL
        server = Server(env, workers=args.workers)
        try:
            for units in [int(u) for u in args.units.split(",")]:
                campaign_id, offer_id = new_sale(db, owner, merchant_id, sku_id, units, LIMITS.get(units, max(1, units // len(tokens))))
                body = {"merchant_id": merchant_id, "items": [{"sku_id": sku_id, "qty": 1}], "pickup_point_id": point_id, "campaign_id": campaign_id}
                print(f"{units} units, {gate}…", flush=True)
                results[(units, gate)] = run_case(server.url, db, tokens, args.in_flight, body, offer_id, units)
        finally:
            server.stop()
    clear_gate_keys()
    print("running the raw-SQL limit (../shared/limit/run.sh)…", flush=True)
    limit = raw_limit(args.limit_seconds, 16)
    hot = limit["order_txn_hot_sku_tps"]
    for (units, gate), r in results.items():
        print(f"{units:>6} units, {gate:<8}: sold out in {r['sell_out_s']:.2f} s → {r['accepted_per_s']:.0f} accepted orders/s; "
              f"{r['requests']} requests in {r['total_s']:.2f} s → {r['requests_per_s']:.0f} requests/s ({r['errors']} errors, {r['expired']} expired unpaid)")
    print(f"raw-SQL limit: hot SKU {hot:.0f} tps")
    for (units, gate), r in results.items():
        print(f"ratio {units} units {gate} accepted/hot {r['accepted_per_s'] / hot:.3f}, requests/hot {r['requests_per_s'] / hot:.3f}")


if __name__ == "__main__":
    main()
