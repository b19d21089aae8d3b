"""Signal capture at the edge (issue 14, part 1): the device cookie on the pages and
X-Device-Id on the API, recorded hashed per login, binding and order with the IP, the
phone, the delivery address and the sandbox payer account; retention; replays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linli import edge, events, jobs
from linli.db import Base
from linli.payments.gateway import payment_gateway
from linli.risk import rules, signals
from linli.risk.models import RiskSignal
from tests.conftest import login
from tests.orders.helpers import buy, make_shop, order
from tests.replay import replay_handlers
from tests.web.conftest import HTML, page_login

BUYER = "13700000001"
DEVICE = "iphone-7F3A-9C21-device"


def api_login(client, phone: str, device: str | None = None, invite_code: str | None = None) -> dict[str, str]:
    h = {"X-Device-Id": device} if device else {}
    r = client.post("/api/v1/auth/otp", json={"phone": phone}, headers=h)
    body = {"phone": phone, "code": r.json()["debug_code"], **({"invite_code": invite_code} if invite_code else {})}
    r = client.post("/api/v1/auth/login", json=body, headers=h)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def me(client, h) -> int:
    return client.get("/api/v1/me", headers=h).json()["id"]


def rows(db, kind: str, member_id: int | None = None) -> list[RiskSignal]:
    with db.transaction() as s:
        q = select(RiskSignal).where(RiskSignal.subject_kind == kind).order_by(RiskSignal.id)
        if member_id is not None:
            q = q.where(RiskSignal.member_id == member_id)
        out = list(s.scalars(q))
        s.expunge_all()
        return out


def snapshot(db) -> list[tuple]:
    cols = [c for c in RiskSignal.__table__.columns if c.name not in ("id", "created_at")]
    with db.transaction() as s:
        return [tuple(r) for r in s.execute(select(*cols).order_by(RiskSignal.subject_kind, RiskSignal.subject_id))]


def database_text(db) -> str:
    """Every row of every table, as text."""
    out = []
    with db.transaction() as s:
        for table in Base.metadata.sorted_tables:
            out.extend(repr(tuple(r)) for r in s.execute(table.select()))
    return "\n".join(out)


def test_a_page_login_sets_the_device_cookie_once_and_the_login_carries_it(client, db):
    first = client.get("/m/login", headers=HTML)
    cookie = next(v for k, v in first.headers.multi_items() if k == "set-cookie" and v.startswith(edge.DEVICE_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie and f"Max-Age={edge.DEVICE_COOKIE_MAX_AGE}" in cookie
    device = client.cookies[edge.DEVICE_COOKIE]
    assert edge.valid_device_id(device) == device
    again = client.get("/m/login", headers=HTML)
    assert not any(v.startswith(edge.DEVICE_COOKIE + "=") for k, v in again.headers.multi_items() if k == "set-cookie")
    page_login(client, BUYER)
    assert client.cookies[edge.DEVICE_COOKIE] == device
    events.drain(db)
    member = me(client, login(client, BUYER))
    events.drain(db)
    logins = rows(db, rules.LOGIN, member)
    assert len(logins) == 2  # the page login and the API one
    assert logins[0].device_hash == edge.keyed("device", device)
    assert logins[0].phone_hash == edge.keyed("phone", BUYER) == logins[1].phone_hash
    # The API login sent the cookie the page set (one browser): the same device.
    assert logins[1].device_hash == logins[0].device_hash


def test_the_api_sets_no_device_cookie(client):
    r = client.post("/api/v1/auth/otp", json={"phone": BUYER})
    assert r.status_code == 202 and edge.DEVICE_COOKIE not in r.headers.get("set-cookie", "")


def test_an_api_order_records_the_device_hashed_and_the_raw_value_nowhere(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = api_login(client, BUYER, DEVICE)
    addr = {"name": "王女士", "phone": "13900009999", "text": "云顶华府 5 幢 1201", "lat": 30.2790, "lng": 120.1580}
    r = order(client, {**buyer, "X-Device-Id": DEVICE}, shop, [(shop.skus["apple"], 1)], pickup_point_id=None, address=addr)
    assert r.status_code == 201, r.text
    events.drain(db)
    [row] = rows(db, rules.ORDER)
    assert row.subject_id == r.json()["id"] and row.member_id == me(client, buyer) and row.merchant_id == shop.merchant_id
    assert row.device_hash == edge.keyed("device", DEVICE)
    assert row.address_hash == edge.keyed("address", rules.normalize_address({"text": "云顶华府5幢1201"}))
    assert row.phone_hash == edge.keyed("phone", "13900009999")  # where the goods go
    assert row.payer_hash is None  # not paid yet
    assert DEVICE not in database_text(db)


def test_a_bad_device_id_is_ignored_never_an_error(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = api_login(client, BUYER)
    for bad in ["short", "x" * 65, "has spaces in it", "tab\tdevice-id"]:
        r = order(client, {**buyer, "X-Device-Id": bad}, shop, [(shop.skus["apple"], 1)])
        assert r.status_code == 201, r.text
    for raw in ["café-device-id".encode("latin-1"), "设备编号-device".encode()]:  # not ASCII on the wire
        r = order(client, {**buyer, "X-Device-Id": raw}, shop, [(shop.skus["apple"], 1)])
        assert r.status_code == 201, r.text
    r = client.get("/m/login", headers={**HTML, "X-Device-Id": "no"})
    assert r.status_code == 200 and client.cookies.get(edge.DEVICE_COOKIE)  # a page with a bad id gets a cookie of its own
    events.drain(db)
    assert [row.device_hash for row in rows(db, rules.ORDER)] == [None] * 6


def test_the_sandbox_payment_records_the_payer_account(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer, other = login(client, BUYER), login(client, "13700000002")
    a, b = me(client, buyer), me(client, other)
    gw = payment_gateway.get()
    paid = buy(client, db, buyer, shop, [(shop.skus["apple"], 1)])
    [row] = rows(db, rules.ORDER, a)
    assert row.subject_id == paid["id"] and row.payer_hash == edge.keyed("payer", gw.payer_of(a))
    assert gw.payer_of(a) == gw.payer_of(a) != gw.payer_of(b)  # stable, one per buyer
    with db.transaction() as s:
        assert rules.shared_signals(signals.signal_set(s, a), signals.signal_set(s, b)) == {}
    # The second account pays from the first one's account.
    gw.payers[b] = gw.payer_of(a)
    try:
        buy(client, db, other, shop, [(shop.skus["apple"], 1)])
    finally:
        gw.payers.pop(b)
    with db.transaction() as s:
        shared = rules.shared_signals(signals.signal_set(s, a, shop.merchant_id), signals.signal_set(s, b, shop.merchant_id))
    assert shared == {"payer": frozenset({edge.keyed("payer", gw.payer_of(a))})}


def test_a_binding_records_the_invitees_device(client, db, merchant):
    shop = make_shop(client, merchant)
    inviter = login(client, "13600000001")
    code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=inviter).json()["code"]
    invitee = api_login(client, BUYER, DEVICE, invite_code=code)
    events.drain(db)
    [row] = rows(db, rules.BINDING)
    assert row.member_id == me(client, invitee) and row.related_member_id == me(client, inviter) and row.merchant_id == shop.merchant_id
    assert row.device_hash == edge.keyed("device", DEVICE) and row.phone_hash == edge.keyed("phone", BUYER)


def test_a_binding_through_the_api_records_the_device_of_that_request(client, db, merchant):
    shop = make_shop(client, merchant)
    inviter = login(client, "13600000001")
    code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=inviter).json()["code"]
    invitee = login(client, BUYER)
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/bindings", json={"invite_code": code}, headers={**invitee, "X-Device-Id": DEVICE})
    assert r.status_code == 200, r.text
    events.drain(db)
    [row] = rows(db, rules.BINDING)
    assert row.device_hash == edge.keyed("device", DEVICE)


def test_two_accounts_logging_in_on_one_device_share_its_hash_and_the_ip_alone_is_no_signal(app, db):
    with TestClient(app, client=("203.0.113.7", 50000)) as one, TestClient(app, client=("203.0.113.9", 50001)) as other:
        a = me(one, api_login(one, BUYER, DEVICE))
        b = me(other, api_login(other, "13700000002", DEVICE))
        c = me(other, api_login(other, "13700000003", "another-device-0001"))
    events.drain(db)
    ra, rb, rc = rows(db, rules.LOGIN, a)[0], rows(db, rules.LOGIN, b)[0], rows(db, rules.LOGIN, c)[0]
    assert ra.device_hash == rb.device_hash == edge.keyed("device", DEVICE) != rc.device_hash
    assert ra.ip_prefix == rb.ip_prefix == "203.0.113.0/24" and ra.ip_hash == edge.keyed("ip", "203.0.113.7") != rb.ip_hash
    with db.transaction() as s:
        sa, sb, sc = (signals.signal_set(s, m) for m in (a, b, c))
        assert rules.shared_signals(sa, sb) == {"device": frozenset({edge.keyed("device", DEVICE)})}
        assert rules.shared_signals(sb, sc) == {}  # same IP prefix, different devices: nothing shared
    assert "203.0.113.7" not in database_text(db)


def test_retention_deletes_old_rows_only_and_twice_is_once(client, db, clock):
    member = me(client, login(client, BUYER))
    now = clock()
    with db.transaction() as s:
        signals.record(s, rules.ORDER, 9001, member, now - timedelta(days=181), phone=BUYER)
        signals.record(s, rules.ORDER, 9002, member, now - timedelta(days=179), phone=BUYER)
    events.drain(db)  # the login's row, seen now
    assert jobs.run_due(db, now)["risk.signal_retention"] == 1
    assert jobs.run_due(db, now)["risk.signal_retention"] == 0
    left = [(r.subject_kind, r.subject_id) for r in rows(db, rules.ORDER)] + [(r.subject_kind, r.member_id) for r in rows(db, rules.LOGIN)]
    assert left == [(rules.ORDER, 9002), (rules.LOGIN, member)]
    signals.configure(retention_days=30)
    try:
        assert jobs.run_due(db, now)["risk.signal_retention"] == 1
    finally:
        signals.configure(retention_days=rules.DEFAULT_RETENTION_DAYS)
    assert [r.subject_id for r in rows(db, rules.ORDER)] == []


def test_retention_deletes_old_order_attributions_too(client, db, merchant, clock):
    from linli.risk.models import RiskAttribution

    shop = make_shop(client, merchant)
    buy(client, db, login(client, BUYER), shop, [(shop.skus["apple"], 1)])
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RiskAttribution)) == 1
    jobs.run_due(db, clock.advance(days=179))
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RiskAttribution)) == 1
    jobs.run_due(db, clock.advance(days=2))
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RiskAttribution)) == 0


def test_replaying_every_event_50_times_changes_nothing(client, db, merchant):
    shop = make_shop(client, merchant)
    inviter = login(client, "13600000001")
    code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=inviter).json()["code"]
    buyer = api_login(client, BUYER, DEVICE, invite_code=code)
    buy(client, db, {**buyer, "X-Device-Id": DEVICE}, shop, [(shop.skus["apple"], 1)])
    events.drain(db)
    before = snapshot(db)
    assert {k for k, *_ in before} == {rules.LOGIN, rules.BINDING, rules.ORDER}
    ran = replay_handlers(db, "risk")
    assert {name for _, name in ran} >= {"member.logged_in", "member.bound", "order.created", "payment.succeeded"}
    assert snapshot(db) == before


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_handlers_racing_on_one_order_make_one_row_with_both_facts(db, client, merchant, clock):
    """order.created and payment.succeeded recorded at once (two workers): one row, both facts."""
    import threading

    shop = make_shop(client, merchant)
    buyer = api_login(client, BUYER)
    o = order(client, buyer, shop, [(shop.skus["apple"], 1)]).json()
    m = me(client, buyer)
    barrier = threading.Barrier(2)
    errors = []

    def write(**kw):
        try:
            with db.transaction() as s:
                barrier.wait()
                signals.record(s, rules.ORDER, o["id"], m, clock(), merchant_id=shop.merchant_id, **kw)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, kwargs={"phone": "13900001111"}), threading.Thread(target=write, kwargs={"payer_hash": "p" * 64})]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    [row] = [r for r in rows(db, rules.ORDER) if r.subject_id == o["id"]]
    assert row.phone_hash == edge.keyed("phone", "13900001111") and row.payer_hash == "p" * 64
