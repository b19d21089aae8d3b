"""Honours on SQLite and PostgreSQL: a week is frozen after it closes (周度分享之星, the shop's
board of each metric, members under a hold at that moment left out), once — a re-run of the
job writes nothing, and a refund that lands later changes the board but never the honour;
a period still running is 404 ``honours.not_closed``, a closed one without a snapshot 404
``honours.not_frozen``."""

from __future__ import annotations

from sqlalchemy import func, select

from linli import jobs
from linli.commission import service as commission
from linli.incentives.models import Honour, HonourClose
from tests.conftest import problem_code
from tests.incentives.board_helpers import Sharer, board, brought, ranks
from tests.incentives.helpers import _refund
from tests.orders.helpers import make_shop


def _honour(client, mid: int, **params):
    return client.get(f"/api/v1/merchants/{mid}/honours", params=params)


def _frozen(db) -> tuple[int, int]:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(HonourClose)), s.scalar(select(func.count()).select_from(Honour))


def test_a_closed_week_is_frozen_once_and_a_later_refund_does_not_change_it(client, db, merchant, clock, boards_on):
    shop = make_shop(client, merchant, stock=2000)
    mid = shop.merchant_id
    a, b, c = (Sharer(client, shop, f"1360000002{i}") for i in range(3))
    a_buyer, a_order = brought(client, db, shop, a, "berry2")
    clock.advance(minutes=1)
    brought(client, db, shop, b, "berry")
    clock.advance(minutes=1)
    brought(client, db, shop, c, "berry2")
    assert problem_code(_honour(client, mid, period="week", at=clock().isoformat())) == "honours.not_closed"
    assert _honour(client, mid, period="week", at=clock().isoformat()).status_code == 404
    with db.transaction() as s:
        commission.hold(s, mid, c.id, "risk:test", clock())  # under a hold when the week is frozen: not honoured
    clock.advance(hours=16)  # Monday 02:00 in Shanghai: the week closed two hours ago
    jobs.run_due(db, clock())
    r = _honour(client, mid, period="week")  # the last closed week by default
    assert r.status_code == 200, r.text
    honour = r.json()
    assert honour["title"] == "周度分享之星" and honour["period_start"].startswith("2026-11-15T16:00:00")
    gmv = next(x for x in honour["boards"] if x["metric"] == "gmv")
    assert [(e["rank"], e["member_id"], e["score"]) for e in gmv["entries"]] == [(1, a.id, 12800), (2, b.id, 6800)]
    assert gmv["entries"][0]["phone_masked"] == "136****0020"
    assert next(x for x in honour["boards"] if x["metric"] == "referrals")["entries"] == []
    assert _honour(client, mid, period="week", at="2026-11-20T12:00:00+08:00").json() == honour
    counted = _frozen(db)
    assert counted == (1, 2)
    with db.transaction() as s:
        commission.release_hold(s, mid, c.id, "risk:test", clock())
    _refund(client, db, shop, a_buyer, a_order, 0, 12800)  # lands after the freeze
    last_week = board(client, mid, at="2026-11-20T12:00:00+08:00")
    assert ranks(last_week) == [(1, c.id, 12800), (2, b.id, 6800)]  # the board follows the refund…
    jobs.run_due(db, clock())
    assert _honour(client, mid, period="week").json() == honour  # …the honour does not
    assert _frozen(db) == counted
    assert problem_code(_honour(client, mid, period="month")) == "honours.not_frozen"  # October: no board, nothing frozen
    assert problem_code(_honour(client, mid, period="month", at=clock().isoformat())) == "honours.not_closed"


def test_a_month_is_frozen_as_monthly_gold_after_it_closes(client, db, merchant, clock):
    shop = make_shop(client, merchant, stock=2000)
    a = Sharer(client, shop, "13600000030")
    brought(client, db, shop, a, "berry")
    clock.advance(days=9)  # 1 December, 10:00 in Shanghai: November and its weeks have closed
    jobs.run_due(db, clock())
    body = _honour(client, shop.merchant_id, period="month").json()
    assert body["title"] == "月度金牌分享官" and body["period_start"].startswith("2026-10-31T16:00:00")
    assert [(e["rank"], e["member_id"]) for x in body["boards"] if x["metric"] == "gmv" for e in x["entries"]] == [(1, a.id)]
    assert _frozen(db) == (2, 2)  # the month and its last full week
