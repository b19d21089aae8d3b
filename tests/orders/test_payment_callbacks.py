"""Gateway callbacks that must be refused (POST /api/v1/payments/callback): each answers a 4xx
problem with a stable code and leaves the order unpaid; a replayed valid callback has one effect."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from linli import events
from linli.orders.models import OrderAudit
from linli.payments import service as payments
from linli.payments.gateway import SIGNATURE_HEADER, sign
from linli.payments.models import Payment
from tests.conftest import login, problem_code
from tests.orders.helpers import make_shop, order

URL = "/api/v1/payments/callback"


@pytest.fixture
def unpaid(client, db, merchant):
    """An order awaiting payment with its pending payment: (buyer, order id, gateway ref, amount)."""
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    oid = order(client, buyer, shop, [(shop.skus["berry"], 1)]).json()["id"]
    pid = client.post(f"/api/v1/orders/{oid}/pay", headers=buyer).json()["payment_id"]
    with db.transaction() as s:
        p = s.get(Payment, pid)
        return buyer, oid, p.gateway_ref, p.amount


def _body(ref: str, amount, **extra) -> bytes:
    return json.dumps({"gateway_ref": ref, "amount": amount, "txn": "sbxt_1", "status": "SUCCESS", **extra}).encode()


def _signed(raw: bytes, at) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(payments.gateway().secret, raw, int(at.timestamp())), "Content-Type": "application/json"}


def _still_unpaid(client, db, buyer, oid) -> None:
    events.drain(db)
    assert client.get(f"/api/v1/orders/{oid}", headers=buyer).json()["status"] == "pending_payment"
    with db.transaction() as s:
        assert s.scalars(select(Payment.status).where(Payment.order_id == oid)).all() == ["pending"]


CASES = {
    "missing header": (lambda ref, amount, now: (_body(ref, amount), {"Content-Type": "application/json"}), "payment.signature_invalid"),
    "bad signature": (lambda ref, amount, now: (_body(ref, amount), {SIGNATURE_HEADER: f"t={int(now.timestamp())},v1={'0' * 64}"}), "payment.signature_invalid"),
    "signed for another body": (lambda ref, amount, now: (_body(ref, amount), _signed(_body(ref, amount + 1), now)), "payment.signature_invalid"),
    "timestamp not ASCII digits": (lambda ref, amount, now: (_body(ref, amount), {SIGNATURE_HEADER: "t=²,v1=ab".encode("latin-1")}), "payment.signature_invalid"),
    "timestamp of 5000 digits": (lambda ref, amount, now: (_body(ref, amount), {SIGNATURE_HEADER: f"t={'9' * 5000},v1=ab"}), "payment.signature_invalid"),
    "stale timestamp": (lambda ref, amount, now: (_body(ref, amount), _signed(_body(ref, amount), now - timedelta(minutes=10))), "payment.callback_stale"),
    "timestamp from the future": (lambda ref, amount, now: (_body(ref, amount), _signed(_body(ref, amount), now + timedelta(minutes=10))), "payment.callback_stale"),
    "wrong amount": (lambda ref, amount, now: (_body(ref, amount - 1), _signed(_body(ref, amount - 1), now)), "payment.amount_mismatch"),
    "unknown payment": (lambda ref, amount, now: (_body("sbx_999_x", amount), _signed(_body("sbx_999_x", amount), now)), "payment.unknown"),
    "not JSON": (lambda ref, amount, now: (b"{gateway_ref", _signed(b"{gateway_ref", now)), "payment.callback_malformed"),
    "JSON but a list": (lambda ref, amount, now: (b"[1]", _signed(b"[1]", now)), "payment.callback_malformed"),
    "no amount": (lambda ref, amount, now: (b'{"gateway_ref":"%s"}' % ref.encode(), _signed(b'{"gateway_ref":"%s"}' % ref.encode(), now)), "payment.callback_malformed"),
    "fractional amount": (lambda ref, amount, now: (_body(ref, amount + 0.5), _signed(_body(ref, amount + 0.5), now)), "payment.callback_malformed"),
    "infinite amount": (lambda ref, amount, now: (_body(ref, float("inf")), _signed(_body(ref, float("inf")), now)), "payment.callback_malformed"),
    "amount as text": (lambda ref, amount, now: (_body(ref, str(amount)), _signed(_body(ref, str(amount)), now)), "payment.callback_malformed"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_callbacks_leave_the_order_unpaid(client, db, unpaid, clock, case):
    buyer, oid, ref, amount = unpaid
    make, code = CASES[case]
    raw, headers = make(ref, amount, clock())
    r = client.post(URL, content=raw, headers=headers)
    assert 400 <= r.status_code < 500 and problem_code(r) == code, r.text
    _still_unpaid(client, db, buyer, oid)


def test_a_replayed_valid_callback_has_one_effect(client, db, unpaid, clock):
    buyer, oid, ref, amount = unpaid
    raw, sig = payments.gateway().completion(ref, amount, clock())
    for _ in range(3):
        r = client.post(URL, content=raw, headers={SIGNATURE_HEADER: sig, "Content-Type": "application/json"})
        assert r.status_code == 200 and r.json() == {"code": "SUCCESS"}
        events.drain(db)
    assert client.get(f"/api/v1/orders/{oid}", headers=buyer).json()["status"] == "paid"
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(OrderAudit).where(OrderAudit.order_id == oid, OrderAudit.action == "paid")) == 1
