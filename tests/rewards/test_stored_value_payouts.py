"""Stored value paid back to top-up payments (third review): principal held back is room
its top-up no longer has, so it is never paid out or forfeited twice; an order's refund
never waits on a gateway refund of a top-up (payouts are asked after commit and retried);
the payout over the cap brings the member exactly to the cap."""

from __future__ import annotations

from sqlalchemy import func, select

from linli import events
from linli.payments.models import PaymentRefund
from linli.rewards.models import StoredValuePayout
from tests.conftest import login
from tests.orders.helpers import make_shop, order
from tests.rewards.test_stored_value import CAP, _buy, _held_back, _ledger_ok, _one, _plans, _refund, _refund_all, _sv, _top_up

URL = "/api/v1/me/stored-value/refund"


def _cash_out(db, *payment_ids) -> int:
    return _one(db, select(func.coalesce(func.sum(PaymentRefund.amount), 0)).where(PaymentRefund.payment_id.in_(payment_ids)))


def test_held_back_principal_is_counted_twice_when_a_later_refund_reuses_its_payment_room(client, db, merchant):
    """The held-back part of a top-up's payment stays as refund room; a later principal
    refund (newest payment first) pays older principal out of that room and forfeits the
    bonus again for the same range, so more is held back than the bonus ever was: the
    member, whose every order was refunded, never gets all their cash back."""
    shop = make_shop(client, merchant)
    _plans(client, shop, [(10_000, 5000)])  # 充100送50
    buyer = login(client, "13700000001")
    t0 = _top_up(client, db, buyer, shop, 12_000)  # a free amount: no bonus
    t1 = _top_up(client, db, buyer, shop, 10_000)  # + 5,000 bonus
    assert _sv(client, buyer, shop) == (22_000, 5000)
    a = _buy(client, db, buyer, shop, [(shop.skus["berry2"], 2)], 22_000)  # 25,600: all the principal
    b = _buy(client, db, buyer, shop, [(shop.skus["berry"], 1)], 5000)  # 6,800: all the bonus
    assert _sv(client, buyer, shop) == (0, 0)
    _refund(client, shop, buyer, a, 6400)  # a quarter of A: 5,500 of principal back
    events.drain(db)
    assert _sv(client, buyer, shop) == (5500, 0)
    r1 = client.post(URL, json={"merchant_id": shop.merchant_id}, headers=buyer).json()
    assert (r1["principal"], r1["held_back"]) == (2750, 2750)  # T1's 5,500 share of its bonus was spent
    _refund(client, shop, buyer, a, 19_200)  # the rest of A: 16,500 of principal back
    events.drain(db)
    assert _sv(client, buyer, shop) == (16_500, 0)
    client.post(URL, json={"merchant_id": shop.merchant_id}, headers=buyer)
    # All the principal has now been refunded: at most T1's whole bonus (5,000) can be held back.
    held_mid = _held_back(client, buyer, shop)
    _refund_all(client, db, shop, buyer, b)  # the bonus comes back: the member bought nothing
    assert _sv(client, buyer, shop) == (0, 0)
    assert (held_mid, _cash_out(db, t0["payment_id"], t1["payment_id"]), _held_back(client, buyer, shop)) == (5000, 22_000, 0)  # never more held than the bonus; every fen paid in back
    assert _held_back(client, buyer, shop) == 0
    _ledger_ok(db, shop.merchant_id)


def test_an_order_refund_does_not_depend_on_refunding_an_old_top_up_at_the_gateway(client, db, merchant, monkeypatch):
    """Giving back the bonus an order spent pays held-back principal out to a top-up payment
    inside the order's refund: when the gateway refuses that (a top-up older than the
    gateway's refund window, 1 year at WeChat Pay), the staff cannot refund the order at all,
    though the order's own payment refunds fine."""
    from linli.payments.gateway import RefundResult, SandboxGateway
    from tests.orders.helpers import order
    from tests.rewards.test_stored_value import _payment

    shop = make_shop(client, merchant)
    _plans(client, shop, [(10_000, 1000)])
    buyer = login(client, "13700000001")
    t = _top_up(client, db, buyer, shop, 10_000)
    parked = order(client, buyer, shop, [(shop.skus["berry"], 1)], stored_value=5000).json()
    spender = _buy(client, db, buyer, shop, [(shop.skus["berry2"], 1)], 6000)
    assert client.post(f"/api/v1/orders/{parked['id']}/cancel", headers=buyer).status_code == 200
    assert client.post(URL, json={"merchant_id": shop.merchant_id}, headers=buyer).json()["held_back"] == 500
    events.drain(db)
    old = _payment(db, t["payment_id"]).gateway_ref
    real = SandboxGateway.refund
    monkeypatch.setattr(SandboxGateway, "refund", lambda self, ref, amount, key: RefundResult(False, None, "refund window closed") if ref == old else real(self, ref, amount, key))
    lines = [{"line_id": ln["id"], "amount": ln["amount"]} for ln in spender["lines"]]
    case = client.post(f"/api/v1/orders/{spender['id']}/refunds", json={"lines": lines, "reason": "坏果"}, headers=buyer).json()
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{case['id']}/approve", headers=shop.owner)
    assert r.status_code == 200, r.text  # the order's refund must not hang on the top-up's
    events.drain(db)
    assert _sv(client, buyer, shop) == (5000, 500)
    w = client.get("/api/v1/me/wallet", params={"merchant_id": shop.merchant_id}, headers=buyer).json()["stored_value"]
    assert (w["held_back"], w["paying_out"]) == (0, 500)  # decided, and waiting on the gateway
    assert _cash_out(db, t["payment_id"]) == 4500
    monkeypatch.setattr(SandboxGateway, "refund", real)  # the gateway takes it again: the retried payout goes through once
    with db.transaction() as s:
        s.execute(events.OutboxEvent.__table__.update().values(next_attempt_at=None))
    events.drain(db)
    assert _cash_out(db, t["payment_id"]) == 5000
    assert _one(db, select(func.count()).select_from(StoredValuePayout).where(StoredValuePayout.status == "pending")) == 0
    _ledger_ok(db, shop.merchant_id)


def test_the_payout_over_the_cap_forfeits_no_bonus_the_member_did_not_ask_to_give_up(client, db, merchant):
    """What a refund brings back over the cap is paid out against the newest top-up, so that
    top-up's bonus is forfeited pro rata although the member asked for nothing and the
    principal that came back (from a top-up without bonus) could have been paid out instead:
    the member ends 24,000 fen below the cap they were entitled to hold."""
    shop = make_shop(client, merchant, stock=1000)
    _plans(client, shop, [(400_000, 40_000)])
    buyer = login(client, "13700000001")
    _top_up(client, db, buyer, shop, 300_000)  # no bonus
    o = _buy(client, db, buyer, shop, [(shop.skus["berry2"], 24)], 300_000)
    _top_up(client, db, buyer, shop, 400_000)  # + 40,000 bonus
    assert _sv(client, buyer, shop) == (400_000, 40_000)
    _refund_all(client, db, shop, buyer, o)
    events.drain(db)
    principal, bonus = _sv(client, buyer, shop)
    assert (principal, bonus) == (460_000, 40_000)  # exactly the cap: the bonus-free top-up's principal went out, no bonus forfeited
    _ledger_ok(db, shop.merchant_id)


def test_bonus_forfeited_over_the_cap_is_forfeited_again_by_the_principal_refund(client, db, merchant):
    """settle_over_cap forfeits bonus over the cap (``bonus_over``) when the principal it can
    pay out is not enough, but records it on no top-up: a later principal refund of the
    top-up that bonus came with counts all of its bonus as still due, finds it gone, and
    holds back that much principal for ever. The member bought nothing and is 150,000 fen
    (1,500 元) short."""
    shop = make_shop(client, merchant, stock=1000)
    _plans(client, shop, [(250_000, 250_000)])  # 充2500送2500 (a bonus of at most the pay)
    buyer = login(client, "13700000001")
    t1 = _top_up(client, db, buyer, shop, 250_000)
    a = _buy(client, db, buyer, shop, [(shop.skus["berry2"], 40)], CAP)  # 512,000: all of t1, principal and bonus
    t2 = _top_up(client, db, buyer, shop, 400_000)  # no bonus
    h = order(client, buyer, shop, [(shop.skus["berry2"], 32)], stored_value=400_000)  # unpaid: 400,000 parked
    assert h.status_code == 201, h.text
    t3 = _top_up(client, db, buyer, shop, 100_000)  # no bonus: 100,000 + 400,000 parked = the cap
    assert _sv(client, buyer, shop) == (100_000, 0)
    _refund_all(client, db, shop, buyer, a)  # 250,000 + 250,000 come back: 500,000 over the cap
    events.drain(db)
    principal, bonus = _sv(client, buyer, shop)
    assert principal + bonus + 400_000 == CAP
    assert client.post(f"/api/v1/orders/{h.json()['id']}/cancel", headers=buyer).status_code == 200
    r = client.post(URL, json={"merchant_id": shop.merchant_id}, headers=buyer)
    assert r.status_code == 201, r.text
    events.drain(db)
    # Nothing was bought: every fen paid in (750,000) must be back, no principal held back.
    assert (_cash_out(db, t1["payment_id"], t2["payment_id"], t3["payment_id"]), _held_back(client, buyer, shop)) == (750_000, 0)
    _ledger_ok(db, shop.merchant_id)
