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
import json
import time

import uvloop
from sqlalchemy import func, select

from bench.common import SECRET, Conn, Server, migrated_database, raw_limit
from linli.catalog import service as catalog
from linli.community import service as community
from linli.db import Database, utcnow
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.rewards import coupons
from linli.rewards.models import Coupon
from linli.security import issue_token


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


def _post(host: str, path: str, token: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def _run(conns: list[Conn], requests: list[bytes]) -> tuple[list[tuple[int, bytes]], float]:
    """Send the requests over the open connections (one in flight on each), answers in order,
    and the seconds from the first to the last."""
    answers: list[tuple[int, bytes] | None] = [None] * len(requests)
    todo = list(reversed(range(len(requests))))

    async def worker(conn: Conn):
        while todo:
            i = todo.pop()
            answers[i] = await conn.post(requests[i], b"")

    t0 = time.monotonic()
    await asyncio.gather(*(worker(c) for c in conns))
    return answers, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buyers", type=int, default=2000)
    ap.add_argument("--total", type=int, default=100)
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit-seconds", type=int, default=10)
    args = ap.parse_args()

    url, db, env = migrated_database("linli_bench_coupons")
    merchant_id, point_id, sku_id, template_id, tokens = seed(db, args.buyers, args.total)
    server = Server(env, workers=args.workers)
    try:
        host, port = server.url.removeprefix("http://").split(":")

        async def run():
            # The buyers have the shop page open: connections up, then everyone taps 领取.
            conns = [Conn(host, int(port)) for _ in range(args.inflight)]
            for i, conn in enumerate(conns):
                assert await conn.get(f"/api/v1/me/coupons?merchant_id={merchant_id}", tokens[i % len(tokens)]) == 200
            claims, claim_s = await _run(conns, [_post(host, f"/api/v1/coupons/{template_id}/claim", tok, b"") for tok in tokens])
            winners = [(tokens[i], json.loads(body)["id"]) for i, (status, body) in enumerate(claims) if status == 201]
            orders, order_s = await _run(conns, [_post(host, "/api/v1/orders", tok, json.dumps({
                "merchant_id": merchant_id, "items": [{"sku_id": sku_id, "qty": 1}], "pickup_point_id": point_id, "coupon_id": cid}).encode()) for tok, cid in winners])
            for conn in conns:
                conn.close()
            return claims, claim_s, orders, order_s

        claims, claim_s, orders, order_s = uvloop.run(run())
    finally:
        server.stop()
    codes = [status for status, _ in claims]
    with db.transaction() as s:
        issued = s.scalar(select(func.count()).select_from(Coupon).where(Coupon.template_id == template_id))
        locked = s.scalar(select(func.count()).select_from(Coupon).where(Coupon.template_id == template_id, Coupon.status == "locked"))
    print("running the raw-SQL limit (../shared/limit/run.sh)…", flush=True)
    limit = raw_limit(args.limit_seconds, 16)
    hot = limit.get("order_txn_hot_sku_tps", 0.0)
    claims_per_s = len(claims) / claim_s
    print(f"claims: {len(claims)} in {claim_s:.2f} s → {claims_per_s:.0f} claims/s; {codes.count(201)} issued, {codes.count(409)} refused, {len(claims) - codes.count(201) - codes.count(409)} other; {issued} coupons in the database")
    print(f"checkout with the coupon: {len(orders)} orders in {order_s:.2f} s → {len(orders) / order_s if order_s else 0:.0f} orders/s; {sum(status == 201 for status, _ in orders)} placed, {locked} coupons locked")
    print(f"raw-SQL limit: hot row {hot:.0f} tps")
    print(f"ratio claims {claims_per_s / hot:.3f}" if hot else "ratio claims n/a (no raw limit)")


if __name__ == "__main__":
    main()
