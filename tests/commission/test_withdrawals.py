import httpx
from sqlalchemy import text

from linli import events, jobs, ledger
from linli.commission import payout
from tests.conftest import login, problem_code
from tests.orders.concurrency import together
from tests.orders.helpers import buy, make_shop


def _earn(client, h, mid):
    return client.get("/api/v1/me/earnings", params={"merchant_id": mid}, headers=h).json()


def _leader_with_available(client, db, merchant, clock, boxes=2):
    """The shop's leader earns 15% of a received, settled order: 13,600 → 2,040 fen."""
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000004")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], boxes)])
    client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))
    assert _earn(client, shop.leader, merchant.id)["available"] == 6800 * boxes * 15 // 100
    return shop, o, buyer


def _withdraw(client, h, mid, amount, **headers):
    return client.post("/api/v1/me/withdrawals", json={"merchant_id": mid, "amount": amount}, headers={**h, **headers})


def _ledger_ok(db, mid):
    with db.transaction() as s:
        assert ledger.check(s, mid) == []


def test_withdraw_is_paid_out_and_recorded(client, db, merchant, clock):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    r = _withdraw(client, shop.leader, merchant.id, 1500, **{"Idempotency-Key": "w-1"})
    assert r.status_code == 201 and r.json()["status"] == "approved" and r.json()["fee"] == 0
    again = _withdraw(client, shop.leader, merchant.id, 1500, **{"Idempotency-Key": "w-1"})
    assert again.json()["id"] == r.json()["id"]
    events.drain(db)
    e = _earn(client, shop.leader, merchant.id)
    assert (e["available"], e["withdrawn"]) == (540, 1500)
    assert client.get("/api/v1/me/withdrawals", params={"merchant_id": merchant.id}, headers=shop.leader).json()[0]["status"] == "paid"
    _ledger_ok(db, merchant.id)


def test_withdrawal_refusals(client, db, merchant, clock):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    r = _withdraw(client, shop.leader, merchant.id, 99)
    assert r.status_code == 422 and problem_code(r) == "withdrawal.below_minimum"
    r = _withdraw(client, shop.leader, merchant.id, 2041)
    assert r.status_code == 409 and problem_code(r) == "withdrawal.insufficient" and r.json()["available"] == 2040
    for _ in range(3):
        assert _withdraw(client, shop.leader, merchant.id, 100).status_code == 201
    assert problem_code(_withdraw(client, shop.leader, merchant.id, 100)) == "withdrawal.daily_limit"
    clock.advance(days=1)
    assert _withdraw(client, shop.leader, merchant.id, 100).status_code == 201
    _ledger_ok(db, merchant.id)


def test_failed_payout_returns_the_money(client, db, merchant, clock):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    payout.gateway.get().fail_next()
    assert _withdraw(client, shop.leader, merchant.id, 2040).status_code == 201
    events.drain(db)
    e = _earn(client, shop.leader, merchant.id)
    assert (e["available"], e["withdrawn"]) == (2040, 0)
    assert client.get("/api/v1/me/withdrawals", params={"merchant_id": merchant.id}, headers=shop.leader).json()[0]["status"] == "failed"
    _ledger_ok(db, merchant.id)


def test_large_withdrawals_wait_for_finance(client, db, merchant, clock):
    client.put(f"/api/v1/merchants/{merchant.id}/commission-rules", json={"withdraw_auto_max": 1000, "withdraw_fee_bp": 100}, headers=merchant.owner)
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    w = _withdraw(client, shop.leader, merchant.id, 2000).json()
    assert (w["status"], w["fee"], w["net"]) == ("pending_review", 20, 1980)
    desk = f"/api/v1/merchants/{merchant.id}/withdrawals"
    assert [x["id"] for x in client.get(desk, params={"status": "pending_review"}, headers=merchant.owner).json()] == [w["id"]]
    r = client.post(f"{desk}/{w['id']}/reject", json={"reason": "请先完成实名认证"}, headers=merchant.owner)
    assert r.json()["status"] == "rejected"
    assert _earn(client, shop.leader, merchant.id)["available"] == 2040
    w = _withdraw(client, shop.leader, merchant.id, 2000).json()
    assert client.post(f"{desk}/{w['id']}/approve", headers=merchant.owner).json()["status"] == "approved"
    events.drain(db)
    assert _earn(client, shop.leader, merchant.id)["withdrawn"] == 2000
    assert client.post(f"{desk}/{w['id']}/approve", headers=shop.leader).status_code == 404
    _ledger_ok(db, merchant.id)


def test_refund_after_withdrawal_claws_back_below_zero(client, db, merchant, clock):
    shop, o, buyer = _leader_with_available(client, db, merchant, clock)
    _withdraw(client, shop.leader, merchant.id, 2040)
    events.drain(db)
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 13600}], "reason": "整单退款"}, headers=buyer).json()
    client.post(f"/api/v1/merchants/{merchant.id}/refunds/{case['id']}/approve", headers=merchant.owner)
    events.drain(db)
    e = _earn(client, shop.leader, merchant.id)
    assert e["available"] == -2040 and e["withdrawn"] == 2040
    r = _withdraw(client, shop.leader, merchant.id, 100)
    assert problem_code(r) == "withdrawal.insufficient"
    _ledger_ok(db, merchant.id)


def test_suspended_sharer_cannot_withdraw(client, db, merchant, clock):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    client.post(f"/api/v1/merchants/{merchant.id}/sharers", json={"phone": "13900000001"}, headers=merchant.owner)
    client.post(f"/api/v1/merchants/{merchant.id}/sharers/{shop.leader_id}/suspend", headers=merchant.owner)
    r = _withdraw(client, shop.leader, merchant.id, 100)
    assert r.status_code == 403 and problem_code(r) == "sharer.suspended"


def test_fifty_concurrent_withdrawals_of_the_whole_balance(app, client, db, merchant, clock):
    from tests.e2e.conftest import LiveServer

    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    client.put(f"/api/v1/merchants/{merchant.id}/commission-rules", json={"withdraw_auto_max": 0}, headers=merchant.owner)
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            codes = together(50, lambda i: http.post("/api/v1/me/withdrawals", json={"merchant_id": merchant.id, "amount": 2040}, headers=shop.leader).status_code)
    finally:
        server.stop()
    assert codes.count(201) == 1 and codes.count(409) == 49
    assert _earn(client, shop.leader, merchant.id)["available"] == 0
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM withdrawals")).scalar() == 1
    _ledger_ok(db, merchant.id)


def test_suspension_holds_frozen_commission_until_reinstated(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    client.post(f"/api/v1/merchants/{merchant.id}/sharers", json={"phone": "13900000001"}, headers=merchant.owner)
    buyer = login(client, "13700000004")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    client.post(f"/api/v1/merchants/{merchant.id}/sharers/{shop.leader_id}/suspend", json={"note": "风控复核"}, headers=merchant.owner)
    client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.owner)
    events.drain(db)
    jobs.run_due(db, clock.advance(days=8))
    assert (_earn(client, shop.leader, merchant.id)["frozen"], _earn(client, shop.leader, merchant.id)["available"]) == (1020, 0)
    # New orders earn the suspended leader nothing.
    buy(client, db, login(client, "13700000005"), shop, [(shop.skus["berry"], 1)])
    assert _earn(client, shop.leader, merchant.id)["frozen"] == 1020
    client.post(f"/api/v1/merchants/{merchant.id}/sharers/{shop.leader_id}/reinstate", headers=merchant.owner)
    events.drain(db)
    jobs.run_due(db, clock.advance(days=1))
    assert _earn(client, shop.leader, merchant.id)["available"] == 1020
    _ledger_ok(db, merchant.id)


def test_a_withdrawal_waiting_for_review_is_not_approved_while_its_sharer_is_held(client, db, merchant, clock):
    """Asked for before a risk case held the sharer: staff decide the case first, or reject
    the withdrawal (its money then waits in the hold)."""
    from linli.commission import service as commission

    client.put(f"/api/v1/merchants/{merchant.id}/commission-rules", json={"withdraw_auto_max": 1000}, headers=merchant.owner)
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    w = _withdraw(client, shop.leader, merchant.id, 2000).json()
    assert w["status"] == "pending_review"
    with db.transaction() as s:
        commission.hold(s, merchant.id, shop.leader_id, "risk:7", clock())
    desk = f"/api/v1/merchants/{merchant.id}/withdrawals"
    r = client.post(f"{desk}/{w['id']}/approve", headers=merchant.owner)
    assert r.status_code == 409 and problem_code(r) == "withdrawal.sharer_held"
    assert client.post(f"{desk}/{w['id']}/reject", json={"reason": "风控审核中"}, headers=merchant.owner).json()["status"] == "rejected"
    e = _earn(client, shop.leader, merchant.id)
    assert (e["available"], e["held"], e["withdrawn"]) == (0, 2040, 0)  # back, into the hold
    _ledger_ok(db, merchant.id)
