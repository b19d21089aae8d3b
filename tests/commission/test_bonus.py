from datetime import datetime, timezone

import pytest

from linli import events, jobs
from linli.commission import ledger
from linli.commission.bonus import previous_month, tier_bp
from linli.commission.rules import check_tiers
from linli.errors import Invalid
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
    r = client.put(f"/api/v1/merchants/{merchant.id}/commission-rules", json={"bonus_tiers": [[10_000, 200], [1_000_000, 400]]}, headers=merchant.owner)
    assert r.status_code == 200, r.text
    assert problem_code(client.put(f"/api/v1/merchants/{merchant.id}/commission-rules", json={"bonus_tiers": [[0, 1500]]}, headers=merchant.owner)) == "commission.rates_over_cap"
    shop = make_shop(client, merchant)
    sharer = login(client, "13700000001")
    client.post(f"/api/v1/merchants/{merchant.id}/sharers", json={"phone": "13700000001"}, headers=merchant.owner)
    code = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id}, headers=sharer).json()["code"]
    buyer = login(client, "13700000002", invite_code=code)
    events.drain(db)
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 2)])  # 13,600 fen through the sharer
    client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))  # settled in November (Shanghai)
    before = client.get("/api/v1/me/earnings", params={"merchant_id": merchant.id}, headers=sharer).json()["available"]
    assert jobs.run_due(db, datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc))["commission.monthly_bonus"] == 1
    assert jobs.run_due(db, datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc))["commission.monthly_bonus"] == 0
    e = client.get("/api/v1/me/earnings", params={"merchant_id": merchant.id}, headers=sharer).json()
    assert e["available"] - before == 13_600 * 200 // 10_000
    assert any(r["kind"] == "bonus" for r in e["records"])
    with db.transaction() as s:
        assert ledger.check(s, merchant.id) == []
