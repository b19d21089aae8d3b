"""Flash-sale order intake over HTTP against PostgreSQL, with the Redis gate and without,
as a ratio to the raw hot-SKU limit.

2,000 simulated buyers (at most ``--in-flight`` requests open at once) rush a flash offer of
100 units (one each), then one of 10,000 units (five each); each buyer keeps ordering until
refused, so the 10,000 sell out exactly when every buyer has had their five.
Every case runs against a real ``linli serve`` subprocess, once with ``LINLI_REDIS_URL`` and
once without, and with the worker that places the queue on this machine during the rush or,
as on a worker machine of its own, started once the rush is over (``SHAPES``).
``../shared/limit/run.sh`` runs in the same session; the ratios are printed last.

    python -m bench.flash_sale [--buyers 2000] [--in-flight 64] [--workers 2] [--units 100,10000] [--shapes database,redis,redis-apart]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import timedelta

import uvloop
from sqlalchemy import func, insert, select

from bench.common import SECRET, Conn, Server, migrated_database, raw_limit
from linli.campaigns import rules
from linli.campaigns import service as campaigns
from linli.campaigns.models import Offer
from linli.catalog import service as catalog
from linli.community import service as community
from linli.db import Database, utcnow
from linli.identity import service as identity
from linli.identity.models import Member
from linli.identity.service import Principal
from linli.orders.models import Order
from linli.security import issue_token

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


def request_head(host: str, token: str, body: bytes) -> bytes:
    return (f"POST /api/v1/orders HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()


def run_case(url: str, db: Database, tokens: list[str], in_flight: int, body: dict, offer_id: int, units: int, *, queued: bool, after_intake=None) -> dict:
    """Every buyer orders one unit at a time until refused, ``in_flight`` connections at once.
    Then (``after_intake`` called) waits for the queue, if any, to be placed in the database."""
    tally = {"requests": 0, "accepted": 0, "errors": 0, "last_accept": 0.0}
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    heads = [request_head(host, t, payload) for t in tokens]

    async def main():
        waiting = list(reversed(heads))
        # Buyers wait on the sale's page before it opens: their connections are up and the
        # page's data loaded; the clock starts when they all tap at once.
        conns = [Conn(host, int(port)) for _ in range(in_flight)]
        for i, conn in enumerate(conns):
            assert await conn.get(f"/api/v1/campaigns/{body['campaign_id']}", tokens[i % len(tokens)]) == 200
        t0 = time.monotonic()

        async def connection(conn: Conn):
            try:
                while waiting:
                    head = waiting.pop()
                    while True:
                        status, answer = await conn.post(head, payload)
                        tally["requests"] += 1
                        if status in (201, 202):
                            tally["accepted"] += 1
                            tally["last_accept"] = time.monotonic() - t0
                            continue
                        if status != 409 or json.loads(answer).get("code") not in ("campaign.sold_out", "campaign.member_limit"):
                            tally["errors"] += 1
                        break
            finally:
                conn.close()

        await asyncio.gather(*(connection(c) for c in conns))
        return t0

    t0 = uvloop.run(main())
    intake_s = time.monotonic() - t0
    if after_intake is not None:
        after_intake()
    while True:  # the queue placed in the database (without Redis there is no queue)
        with db.transaction() as s:
            live = s.scalar(select(func.count()).select_from(Order).where(Order.campaign_id == body["campaign_id"], Order.status != "cancelled"))
            expired = s.scalar(select(func.count()).select_from(Order).where(Order.campaign_id == body["campaign_id"], Order.status == "cancelled"))
            sold = s.scalar(select(Offer.sold).where(Offer.id == offer_id))
        if live + expired >= tally["accepted"] or not queued:
            break
        time.sleep(0.1)
    placed_s = time.monotonic() - t0
    # Never oversold; a run longer than 15 minutes sees unpaid orders expire and their units return.
    assert sold == live <= units and tally["accepted"] == live + expired, (sold, live, expired, tally)
    sell_out = tally["last_accept"] if tally["accepted"] >= units else float("nan")
    return {**tally, "sold": sold, "expired": expired, "sell_out_s": sell_out, "intake_s": intake_s, "placed_s": placed_s,
            "accepted_per_s": tally["accepted"] / sell_out, "placed_per_s": tally["accepted"] / placed_s, "requests_per_s": tally["requests"] / intake_s}


def clear_gate_keys() -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    keys = list(r.scan_iter(match="linli:flash:*"))
    if keys:
        r.delete(*keys)
    r.close()


SHAPES = {
    # name: (Redis gate and queue, the worker started only after the rush)
    "database": (False, False),  # no Redis: every order placed at once; the worker (nice 10) relays events
    "redis": (True, False),  # the gate and queue; the worker (nice 10) places the queue on this machine during the rush
    "redis-apart": (True, True),  # the same, with the worker on a machine of its own: here it starts once the rush is over
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buyers", type=int, default=2000)
    ap.add_argument("--in-flight", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--units", default="100,10000", help="comma-separated flash stock sizes")
    ap.add_argument("--shapes", default=",".join(SHAPES), help=f"deployments to measure, of {', '.join(SHAPES)}")
    ap.add_argument("--limit-seconds", type=int, default=10)
    args = ap.parse_args()

    url, db, base_env = migrated_database("linli_bench_flash")
    owner, merchant_id, point_id, sku_id, tokens = seed(db, args.buyers)
    clear_gate_keys()
    results = {}
    for shape in args.shapes.split(","):
        gated, apart = SHAPES[shape]
        env = dict(base_env)
        if gated:
            env["LINLI_REDIS_URL"] = REDIS_URL
        for units in [int(u) for u in args.units.split(",")]:
            server = Server(env, workers=args.workers, background_nice=10, defer_background=apart)
            try:
                campaign_id, offer_id = new_sale(db, owner, merchant_id, sku_id, units, LIMITS.get(units, max(1, units // len(tokens))))
                body = {"merchant_id": merchant_id, "items": [{"sku_id": sku_id, "qty": 1}], "pickup_point_id": point_id, "campaign_id": campaign_id}
                print(f"{units} units, {shape}…", flush=True)
                after = server.start_background if apart else None
                results[(units, shape)] = run_case(server.url, db, tokens, args.in_flight, body, offer_id, units, queued=gated, after_intake=after)
            finally:
                server.stop()
    clear_gate_keys()
    print("running the raw-SQL limit (../shared/limit/run.sh)…", flush=True)
    limit = raw_limit(args.limit_seconds, 16)
    hot = limit["order_txn_hot_sku_tps"]
    for (units, shape), r in results.items():
        print(f"{units:>6} units, {shape:<11}: sold out in {r['sell_out_s']:.2f} s → {r['accepted_per_s']:.0f} accepted orders/s; "
              f"{r['requests']} requests in {r['intake_s']:.2f} s → {r['requests_per_s']:.0f} requests/s; all placed in the database after "
              f"{r['placed_s']:.2f} s → {r['placed_per_s']:.0f} orders/s ({r['errors']} errors, {r['expired']} expired unpaid)")
    print(f"raw-SQL limit: hot SKU {hot:.0f} tps")
    for (units, shape), r in results.items():
        print(f"ratio {units} units {shape}: intake (accepted/s) / hot {r['accepted_per_s'] / hot:.3f}, placed (orders/s) / hot {r['placed_per_s'] / hot:.3f}, requests/hot {r['requests_per_s'] / hot:.3f}")


if __name__ == "__main__":
    main()
