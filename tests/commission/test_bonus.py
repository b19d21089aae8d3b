"""Monthly tiered bonuses: closed once per merchant and month, in bounded chunks."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, text

from linli import events, jobs, ledger
from linli.commission import bonus
from linli.commission.accounts import COMMISSION_PAYABLE, SHARER_AVAILABLE
from linli.commission.bonus import previous_month, tier_bp
from linli.commission.rules import check_tiers
from linli.errors import Invalid
from linli.ledger import Leg
from tests.conftest import login, problem_code
from tests.orders.helpers import buy, make_shop


def test_tiers_and_month_boundaries():
    tiers = [[1_000_000, 200], [3_000_000, 400]]
    assert [tier_bp(tiers, g) for g in (999_999, 1_000_000, 2_999_999, 3_000_000)] == [0, 200, 200, 400]
    start, end, label = previous_month(datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc))  # 08:30 in Shanghai
    assert label == "2026-11" and start.isoformat() == "2026-10-31T16:00:00+00:00" and end.isoformat() == "2026-11-30T16:00:00+00:00"
    assert previous_month(datetime(2027, 1, 5, tzinfo=timezone.utc))[2] == "2026-12"
    with pytest.raises(Invalid):
        check_tiers([[100, 5000]], 1000)


def test_month_close_pays_a_tiered_bonus_once(client, db, merchant, clock):
    sharer, _ = _november_sale(client, db, merchant, clock, [[10_000, 200], [1_000_000, 400]])
    assert problem_code(client.put(f"/api/v1/merchants/{merchant.id}/commission-rules", json={"bonus_tiers": [[0, 1500]]}, headers=merchant.owner)) == "commission.rates_over_cap"
    before = client.get("/api/v1/me/earnings", params={"merchant_id": merchant.id}, headers=sharer).json()["available"]
    assert jobs.run_due(db, datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc))["commission.monthly_bonus"] == 0  # a day's grace
    assert jobs.run_due(db, datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc))["commission.monthly_bonus"] == 1
    assert jobs.run_due(db, datetime(2026, 12, 3, 1, 0, tzinfo=timezone.utc))["commission.monthly_bonus"] == 0
    e = client.get("/api/v1/me/earnings", params={"merchant_id": merchant.id}, headers=sharer).json()
    assert e["available"] - before == 13_600 * 200 // 10_000
    assert any(r["kind"] == "bonus" for r in e["records"])
    with db.transaction() as s:
        assert ledger.check(s, merchant.id) == []


def test_an_order_completed_in_the_last_seconds_of_the_month_still_earns_its_bonus(client, db, merchant, clock):
    sharer, _ = _received_sale(client, db, merchant, [[10_000, 200]])
    last_minute = datetime(2026, 11, 30, 15, 59, 50, tzinfo=timezone.utc)  # 23:59:50 on 30 November in Shanghai
    jobs.run_due(db, last_minute, dispatch=False)  # completed; its settlement event still waits in the outbox
    assert bonus.close_month(db, datetime(2026, 11, 30, 16, 0, 30, tzinfo=timezone.utc)) == 0  # the first tick of December
    events.drain(db)  # the backlog clears: settled as of the completion, in November
    assert bonus.close_month(db, datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)) == 1
    e = client.get("/api/v1/me/earnings", params={"merchant_id": merchant.id}, headers=sharer).json()
    assert [r["amount"] for r in e["records"] if r["kind"] == "bonus"] == [13_600 * 200 // 10_000]


def _received_sale(client, db, merchant, tiers):
    """A sharer whose code brought a 13,600 fen order, received (not yet complete)."""
    assert client.put(f"/api/v1/merchants/{merchant.id}/commission-rules", json={"bonus_tiers": tiers}, headers=merchant.owner).status_code == 200
    shop = make_shop(client, merchant)
    sharer = login(client, "13700000001")
    client.post(f"/api/v1/merchants/{merchant.id}/sharers", json={"phone": "13700000001"}, headers=merchant.owner)
    code = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id}, headers=sharer).json()["code"]
    buyer = login(client, "13700000002", invite_code=code)
    events.drain(db)
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 2)])
    client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    events.drain(db)
    return sharer, o


def _november_sale(client, db, merchant, clock, tiers):
    """The same sale, settled in November (Shanghai)."""
    sharer, o = _received_sale(client, db, merchant, tiers)
    jobs.run_due(db, clock.advance(days=7, minutes=1))
    return sharer, o


class _Statements:
    """The SQL a block of code sends to the database."""

    def __init__(self, db):
        self.engine, self.sql = db.engine, []

    def _record(self, conn, cursor, statement, *args):
        self.sql.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_a_tick_after_the_month_close_writes_and_scans_nothing(client, db, merchant, clock):
    _november_sale(client, db, merchant, clock, [[10_000, 200]])
    december = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)
    assert bonus.close_month(db, december) == 1
    with db.transaction() as s:
        closes = s.execute(text("SELECT month, bonuses, amount FROM commission_month_closes WHERE merchant_id = :m ORDER BY month"), {"m": merchant.id}).all()
    assert [tuple(c) for c in closes] == [("2026-10", 0, 0), ("2026-11", 1, 13_600 * 200 // 10_000)]  # October closed by November's ticks
    for tick in range(3):  # the scheduler's next ticks, 30 seconds apart
        with _Statements(db) as seen:
            assert bonus.close_month(db, december + timedelta(seconds=30 * (tick + 1))) == 0
        assert not any("commission_records" in q or "order_lines" in q for q in seen.sql), seen.sql
        assert not any(q.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for q in seen.sql), seen.sql
        assert len(seen.sql) <= 2, seen.sql


def test_a_merchant_without_tiers_is_closed_once_too(client, db, merchant, clock):
    _november_sale(client, db, merchant, clock, [])
    december = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)
    assert bonus.close_month(db, december) == 0
    with _Statements(db) as seen:
        assert bonus.close_month(db, december + timedelta(seconds=30)) == 0
    assert not any("commission_records" in q for q in seen.sql), seen.sql


LINES = 70_000  # more than either backend takes as parameters of one statement
SQLITE_DEFAULT_MAX_VARIABLES = 32_766  # SQLite's compiled default since 3.32 (some builds allow more)


@pytest.fixture
def default_sqlite_limits(db):
    """SQLite connections limited to the default build's parameter count, as on most
    installations (this machine's build allows 250,000)."""
    if not db.is_sqlite:
        yield
        return
    import sqlite3

    def limit(dbapi_conn, *_):
        dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_DEFAULT_MAX_VARIABLES)

    event.listen(db.engine, "checkout", limit)
    yield
    event.remove(db.engine, "checkout", limit)


def test_a_month_with_more_lines_than_one_statement_takes_gets_the_right_bonus(client, db, merchant, clock, default_sqlite_limits):
    sharer, o = _november_sale(client, db, merchant, clock, [[10_000, 200], [1_000_000, 400]])
    line_id = o["lines"][0]["id"]
    series = f"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {LINES})"
    cols = "order_id, merchant_id, sku_id, product_id, product_name, sku_name, category, qty, base_price, unit_price, amount, coupon, points_fen"
    rec = "merchant_id, order_id, member_id, level, kind, rate_bp, base, state, rule_version, created_at, settled_at"
    with db.transaction() as s:  # set-based: 70,000 more lines of the order, each with a settled level-1 record
        s.execute(text(
            f"INSERT INTO order_lines ({cols}, paid, refunded, refund_reserved) {series} "
            f"SELECT {cols}, 100 + n.i % 7, CASE WHEN n.i % 5 = 0 THEN 50 ELSE 0 END, 0 FROM order_lines, n WHERE order_lines.id = :l"), {"l": line_id})
        first = s.execute(text(f"SELECT {rec} FROM commission_records WHERE line_id = :l AND level = 1"), {"l": line_id}).one()
        for source, every in (("accrual", 1), ("w0:split", 10)):  # every tenth line also has the withdrawn part of a split record
            s.execute(text(
                f"INSERT INTO commission_records ({rec}, line_id, source, amount) "
                f"SELECT {', '.join(':' + c.strip() for c in rec.split(','))}, id, :source, 1 FROM order_lines WHERE order_id = :o AND id <> :l AND id % :every = 0"),
                {**first._asdict(), "o": o["id"], "l": line_id, "source": source, "every": every})
        added = s.scalar(text("SELECT SUM(amount) FROM commission_records WHERE line_id <> :l"), {"l": line_id})
        ledger.transfer(s, merchant.id, "accrual", "test:bulk", [Leg(COMMISSION_PAYABLE, None, -added), Leg(SHARER_AVAILABLE, first.member_id, added)], clock())
        gmv = s.scalar(text("SELECT SUM(paid - refunded) FROM order_lines WHERE order_id = :o"), {"o": o["id"]})
        assert s.scalar(text("SELECT COUNT(DISTINCT line_id) FROM commission_records WHERE level = 1")) == LINES + 1
    before = client.get("/api/v1/me/earnings", params={"merchant_id": merchant.id}, headers=sharer).json()["available"]
    assert jobs.run_due(db, datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc))["commission.monthly_bonus"] == 1
    e = client.get("/api/v1/me/earnings", params={"merchant_id": merchant.id}, headers=sharer).json()
    assert gmv > 1_000_000 and e["available"] - before == gmv * 400 // 10_000
    assert [(r["amount"], r["state"]) for r in e["records"] if r["kind"] == "bonus"] == [(gmv * 400 // 10_000, "available")]
    with db.transaction() as s:
        assert ledger.check(s, merchant.id) == []
