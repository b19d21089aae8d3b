"""Dashboards on a year of a big shop, on PostgreSQL: 1,000,000 paid orders of 100,000
members, 10,000 sharers, 50 communities, 5% of the orders partly refunded.

Measures, in one run:
- a full ``linli analytics rebuild`` from the orders (the first one after an upgrade: every
  order's facts recorded, every rollup written), then a second one that only compares;
- the overview (30 days) and the sharers' contribution table over HTTP (``linli serve``, two
  processes), p50 / p95 of sequential requests;
- rollup lag: paid orders handled by the outbox dispatcher until the overview shows them;
- the sharers' export (CSV and XLSX): peak memory of building and writing it;
- the raw-SQL limit of the same reads (the overview's and the table's statements run by
  psycopg with no Python layer between), and the ratios to it, last.

    python -m bench.analytics [--orders 1000000] [--members 100000] [--sharers 10000] [--requests 100]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from datetime import timedelta

import httpx
from sqlalchemy import text

from bench.common import SECRET, Server, migrated_database
from linli import events
from linli.analytics import exports, rebuild, rules
from linli.db import Database, utcnow
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.security import issue_token

COMMUNITIES = 50


def seed(db: Database, orders: int, members: int, sharers: int) -> tuple[int, str]:
    """The shop, its owner (a token), members, communities and paid orders in SQL; each
    order's attribution recorded as the handlers would have (a sharer for 40% of them)."""
    now = utcnow()
    with db.transaction() as s:
        admin = identity.get_or_create_member(s, "13800000000", now)
        merchant, owner = identity.create_merchant(s, Principal(admin.id, admin.phone, True), "压测优选", "13800000001", now)
        mid, token = merchant.id, issue_token(SECRET, owner.id, 3600, phone=owner.phone)
    with db.engine.begin() as c:
        base = c.execute(text("SELECT max(id) FROM members")).scalar_one()
        c.execute(text("INSERT INTO members (phone, nickname, created_at, updated_at) SELECT '135' || lpad(g::text, 8, '0'), 'm' || g, now(), now() FROM generate_series(1, :n) g"), {"n": members})
        c.execute(text("INSERT INTO communities (merchant_id, name, city, lat, lng, leader_member_id, created_at) "
                       "SELECT :m, '小区' || g, '杭州', 30.27, 120.15, :b + g, now() FROM generate_series(1, :n) g"), {"m": mid, "b": base, "n": COMMUNITIES})
        first_c = c.execute(text("SELECT min(id) FROM communities")).scalar_one()
        # Paid over the last 365 days; 90% received the next day; amounts 9.90 – 208.90.
        c.execute(text(
            "INSERT INTO orders (merchant_id, member_id, status, subtotal, coupon, points_fen, stored_value, total_paid, payable, refunded, pickup_failures, "
            "community_id, created_at, expires_at, paid_at, received_at) "
            "SELECT :m, :b + 1 + (g::bigint * 7919) % :mem, CASE WHEN g % 10 = 0 THEN 'paid' ELSE 'received' END, a, 0, 0, 0, a, a, 0, 0, :c + g % :nc, t, t, t, "
            "CASE WHEN g % 10 = 0 THEN NULL ELSE t + interval '1 day' END "
            "FROM (SELECT g, 990 + (g % 200) * 100 AS a, now() - (g % 365) * interval '1 day' - (g % 600) * interval '1 minute' AS t FROM generate_series(1, :n) g) x"),
            {"m": mid, "b": base, "mem": members, "c": first_c, "nc": COMMUNITIES, "n": orders})
        c.execute(text(
            "INSERT INTO refund_cases (merchant_id, order_id, member_id, status, amount, reason, photos, auto_approved, created_at, decided_at, refunded_at, by_system) "
            "SELECT merchant_id, id, member_id, 'refunded', total_paid / 4, '坏果', '[]', true, paid_at + interval '2 days', paid_at + interval '2 days', paid_at + interval '2 days', false "
            "FROM orders WHERE id % 20 = 0"))
        c.execute(text(
            "INSERT INTO analytics_orders (order_id, merchant_id, member_id, community_id, leader_id, sharer_id, campaign_id, attributed, paid_day, paid, received_day, refunds, via_code, counted) "
            "SELECT o.id, o.merchant_id, o.member_id, o.community_id, c.leader_member_id, CASE WHEN o.id % 5 < 2 THEN :b + 1 + (o.id * 31) % :sh ELSE 0 END, 0, o.id % 5 < 2, "
            "(o.paid_at AT TIME ZONE 'Asia/Shanghai')::date, o.total_paid, NULL, '', o.id % 10 = 0, false FROM orders o JOIN communities c ON c.id = o.community_id"),
            {"b": base, "sh": sharers})
        c.execute(text("ANALYZE"))
    return mid, token


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def percentiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=20)
    return statistics.median(samples), q[18]


def http_latency(url: str, token: str, path: str, params: dict, n: int) -> tuple[float, float]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        http.get(path, params=params).raise_for_status()  # warm
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            http.get(path, params=params).raise_for_status()
            samples.append(time.perf_counter() - t)
    return percentiles(samples)


def raw_latency(url: str, mid: int, start, end, n: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """The overview's main statements, and the sharers table's, by psycopg alone."""
    import psycopg

    sql = [
        ("SELECT sum(orders), sum(gmv), sum(refunds), sum(buyer_refunded_of_day), sum(received_net), sum(received_attributed_net) FROM analytics_days "
         "WHERE merchant_id = %(m)s AND day BETWEEN %(s)s AND %(e)s"),
        "SELECT day, sum(gmv), sum(refunds), sum(orders) FROM analytics_days WHERE merchant_id = %(m)s AND day BETWEEN %(s)s AND %(e)s GROUP BY day",
        "SELECT count(DISTINCT member_id) FROM analytics_member_days WHERE merchant_id = %(m)s AND day BETWEEN %(s)s AND %(e)s AND orders > 0",
        ("SELECT count(*), sum(CASE WHEN n >= 2 THEN 1 ELSE 0 END) FROM (SELECT sum(received_orders) n FROM analytics_member_days "
         "WHERE merchant_id = %(m)s AND day BETWEEN %(s)s AND %(e)s AND received_orders > 0 GROUP BY member_id) x"),
        ("SELECT sharer_id, sum(gmv), sum(refunds), sum(orders), sum(buyer_refunded_of_day) FROM analytics_days "
         "WHERE merchant_id = %(m)s AND day BETWEEN %(s)s AND %(e)s AND sharer_id <> 0 GROUP BY sharer_id"),
    ]
    out = []
    with psycopg.connect(url) as conn:
        for statements in (sql[:4], sql[4:]):
            samples = []
            for _ in range(n):
                t = time.perf_counter()
                for q in statements:
                    conn.execute(q, {"m": mid, "s": start, "e": end}).fetchall()
                samples.append(time.perf_counter() - t)
            out.append(percentiles(samples))
    return out[0], out[1]


def lag(db: Database, url: str, mid: int, token: str, burst: int) -> float:
    """``burst`` orders paid in the last minute (SQL, with their order.paid events in the
    outbox) until the overview counts them all, through the embedded dispatcher."""
    from linli.orders.events import OrderPaid

    with db.engine.begin() as c:
        before = c.execute(text("SELECT max(id) FROM orders")).scalar_one()
        c.execute(text(
            "INSERT INTO orders (merchant_id, member_id, status, subtotal, coupon, points_fen, stored_value, total_paid, payable, refunded, pickup_failures, community_id, created_at, expires_at, paid_at) "
            "SELECT merchant_id, member_id, 'paid', 1990, 0, 0, 0, 1990, 1990, 0, 0, community_id, now(), now(), now() FROM orders WHERE id <= :n"), {"n": burst})
    today = rules.local_day(utcnow()).isoformat()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        seen = http.get(f"/api/v1/merchants/{mid}/analytics/overview", params={"from": today, "to": today}).json()["orders"]
        t = time.perf_counter()
        with db.transaction() as s:
            for oid, member in s.execute(text("SELECT id, member_id FROM orders WHERE id > :b ORDER BY id"), {"b": before}).all():
                events.emit(s, OrderPaid(order_id=oid, merchant_id=mid, member_id=member, community_id=None, pickup_point_id=None, campaign_id=None, team_id=None,
                                         invite_code=None, total_paid=1990, lines=(), paid_at=utcnow()))
        while http.get(f"/api/v1/merchants/{mid}/analytics/overview", params={"from": today, "to": today}).json()["orders"] < seen + burst:
            if time.perf_counter() - t > 600:
                raise SystemExit("the rollups did not catch up within 10 minutes")
            time.sleep(0.2)
        return time.perf_counter() - t


def export_memory(db: Database, mid: int, owner_id: int, start, end) -> tuple[float, float, int]:
    """Peak traced memory (MB) of the sharers export as CSV and as XLSX, and its rows."""
    with db.transaction() as s:
        who = Principal(owner_id, "", False)
        tracemalloc.start()
        t = exports.table(s, who, mid, "sharers", start, end, end)
        for _ in exports.csv_chunks(t):
            pass
        csv_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.reset_peak()
        for _ in exports.file_chunks(exports.xlsx_path(t)):
            pass
        xlsx_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return csv_peak, xlsx_peak, len(t.rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--sharers", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--burst", type=int, default=500)
    args = ap.parse_args()

    url, db, env = migrated_database("linli_bench_analytics")
    t = time.perf_counter()
    mid, token = seed(db, args.orders, args.members, args.sharers)
    print(f"seeded {args.orders} orders, {args.members} members in {time.perf_counter() - t:.1f} s")
    now = utcnow()
    first = timed(lambda: rebuild.rebuild(db, now, mid))
    report = rebuild.Report()
    check = timed(lambda: report.__dict__.update(rebuild.rebuild(db, now, mid, write=False).__dict__))
    print(f"rebuild: first {first:.1f} s (target ≤ 120 s), check {check:.1f} s, {report.day_rows} day rows, {report.member_day_rows} member-day rows, "
          f"{len(report.differences)} differences after the first")
    end = rules.local_day(now)
    start = end - timedelta(days=29)
    with db.transaction() as s:
        owner_id = identity.member_by_phone(s, "13800000001").id
    csv_peak, xlsx_peak, rows = export_memory(db, mid, owner_id, start, end)
    print(f"export of {rows} sharers: peak {csv_peak:.1f} MB (CSV), {xlsx_peak:.1f} MB (XLSX)")
    raw_overview, raw_sharers = raw_latency(url.replace("postgresql+psycopg://", "postgresql://"), mid, start, end, args.requests)
    server = Server(env, workers=2)  # embedded: its processes run the outbox dispatcher
    try:
        params = {"from": start.isoformat(), "to": end.isoformat()}
        overview = http_latency(server.url, token, f"/api/v1/merchants/{mid}/analytics/overview", params, args.requests)
        sharers = http_latency(server.url, token, f"/api/v1/merchants/{mid}/analytics/sharers", params, args.requests)
        behind = lag(db, server.url, mid, token, args.burst)
    finally:
        server.stop()
    print(f"overview (30 days) over HTTP: p50 {overview[0] * 1000:.0f} ms, p95 {overview[1] * 1000:.0f} ms (target ≤ 300 ms)")
    print(f"sharers table over HTTP: p50 {sharers[0] * 1000:.0f} ms, p95 {sharers[1] * 1000:.0f} ms (target ≤ 300 ms)")
    print(f"raw SQL of the overview's reads: p50 {raw_overview[0] * 1000:.0f} ms, p95 {raw_overview[1] * 1000:.0f} ms; of the table's: p95 {raw_sharers[1] * 1000:.0f} ms")
    print(f"rollup lag after {args.burst} paid orders: {behind:.1f} s (target ≤ 60 s)")
    print(f"ratio overview p95 / raw-SQL p95: {overview[1] / raw_overview[1]:.2f}")
    print(f"ratio sharers p95 / raw-SQL p95: {sharers[1] / raw_sharers[1]:.2f}")


if __name__ == "__main__":
    main()
