"""T+1 settlement: a set-based daily batch, idempotent and crash-safe."""

import pytest
from sqlalchemy import func, select

from linli import events, jobs, ledger
from linli.commission import settlement
from linli.commission.models import CommissionRecord
from linli.ledger import LedgerTransfer
from tests.conftest import MerchantSetup, login
from tests.orders.helpers import buy, make_shop


def _completed_orders(client, db, merchant, clock, n):
    client.put(f"/api/v1/merchants/{merchant.id}/commission-rules", json={"settlement": "t_plus_1"}, headers=merchant.owner)
    shop = make_shop(client, merchant)
    for i in range(n):
        buyer = login(client, f"1370000{i:04d}")
        o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
        client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))  # orders complete: records due, still frozen
    return shop


def _states(db):
    with db.transaction() as s:
        return dict(s.execute(select(CommissionRecord.state, func.count()).group_by(CommissionRecord.state)).all())


def test_daily_batch_settles_orders_completed_before_today(client, db, merchant, clock):
    shop = _completed_orders(client, db, merchant, clock, 3)
    assert _states(db) == {"frozen": 3}
    assert jobs.run_due(db, clock())["commission.settle_t_plus_1"] == 0  # completed today: tomorrow's batch
    assert jobs.run_due(db, clock.advance(days=1))["commission.settle_t_plus_1"] == 3
    assert _states(db) == {"available": 3}
    assert jobs.run_due(db, clock())["commission.settle_t_plus_1"] == 0
    e = client.get("/api/v1/me/earnings", params={"merchant_id": merchant.id}, headers=shop.leader).json()
    assert (e["frozen"], e["available"]) == (0, 3 * 1020)
    with db.transaction() as s:
        assert ledger.check(s, merchant.id) == []


def test_a_run_killed_halfway_moves_each_record_exactly_once(client, db, merchant, clock):
    _completed_orders(client, db, merchant, clock, 5)
    as_of = clock.advance(days=1)
    cutoff = settlement.cutoff_for(as_of)
    with db.transaction() as s:  # the first chunk commits
        assert settlement.run_chunk(s, cutoff, as_of, chunk=2) == (2, 2)
    with pytest.raises(RuntimeError):  # the process dies inside the second chunk
        with db.transaction() as s:
            assert settlement.run_chunk(s, cutoff, as_of, chunk=2) == (2, 2)
            raise RuntimeError("killed")
    assert _states(db) == {"available": 2, "frozen": 3}
    assert settlement.settle_due(db, as_of, chunk=2) == 3
    assert settlement.settle_due(db, as_of, chunk=2) == 0
    assert _states(db) == {"available": 5}
    with db.transaction() as s:
        assert ledger.check(s, merchant.id) == []


def _merchant(client, admin, n):
    """Another merchant (the ``merchant`` fixture's way), owned by its own phone."""
    owner_phone = f"138000001{n:02d}"
    r = client.post("/api/v1/merchants", json={"name": f"邻家小铺{n}", "owner_phone": owner_phone}, headers=admin)
    assert r.status_code == 201, r.text
    return MerchantSetup(r.json()["id"], login(client, owner_phone), owner_phone)


@pytest.mark.parametrize("shops", [2, 3])
def test_one_leader_sharing_for_several_t_plus_1_merchants_settles_at_each(client, db, admin, merchant, clock, shops):
    """The same member (13900000001) leads a community of every merchant, all T+1: the
    daily batch settles each merchant's records, one transfer per merchant and sharer."""
    merchants = [merchant] + [_merchant(client, admin, n) for n in range(1, shops)]
    leaders = []
    for i, m in enumerate(merchants):
        assert client.put(f"/api/v1/merchants/{m.id}/commission-rules", json={"settlement": "t_plus_1"}, headers=m.owner).status_code == 200
        shop = make_shop(client, m)
        for j in range(i + 1):  # a different number of orders at each merchant
            buyer = login(client, f"1370000{j:04d}")
            o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
            client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
        leaders.append(shop.leader)
    assert len({client.get("/api/v1/me", headers=h).json()["id"] for h in leaders}) == 1  # one person
    events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))  # every order completes today
    assert _states(db) == {"frozen": sum(range(1, shops + 1))}
    assert jobs.run_due(db, clock.advance(days=1))["commission.settle_t_plus_1"] == sum(range(1, shops + 1))
    assert _states(db) == {"available": sum(range(1, shops + 1))}
    for i, m in enumerate(merchants):
        e = client.get("/api/v1/me/earnings", params={"merchant_id": m.id}, headers=leaders[0]).json()
        assert (e["frozen"], e["available"]) == (0, (i + 1) * 1020)
        assert all(r["state"] == "available" for r in e["records"])
    assert jobs.run_due(db, clock())["commission.settle_t_plus_1"] == 0
    with db.transaction() as s:
        assert ledger.check(s) == []
        assert s.scalar(select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.kind == "settle")) == shops
