"""Event contracts (issue 11): every consumer reads the payload type its producer declares;
every outbox row that real flows write parses with its declared type and version, and
reads back exactly as stored; the check is not vacuous (an unknown name, an extra or a
missing field, a wrong type, a consumer that cannot read the rows all fail it); and an
event newer than its handlers understand is refused, not mis-read, and stays for retry.

The declared types are the ``EventPayload`` classes defined in each ``linli.<domain>.events``
module (and the test plugin's ``test.*`` events); the consumers are the kernel's
registrations (``@on(Type)``).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

import linli
from linli import domains, events, jobs
from linli.db import Database, utcnow
from linli.events import EventPayload, EventPayloadError, EventVersionTooNew, HandledEvent, OutboxEvent
from linli.orders.events import LineFacts, OrderPaid
from tests import plugin
from tests.campaigns.helpers import add_offer, campaign_shop, create_campaign, resident
from tests.conftest import login
from tests.orders.helpers import Shop, buy, order, pay

Row = tuple[int, str, Mapping[str, Any]]


@pytest.fixture(autouse=True)
def _every_handler_registered() -> None:
    domains.load_all(["tests.plugin"])  # as a process starts (the tests without a database too)


def event_modules() -> list[str]:
    """Every domain's events module (found, not listed: a new domain is checked too)."""
    found = [f"linli.{m.name}.events" for m in pkgutil.iter_modules(linli.__path__) if m.ispkg and importlib.util.find_spec(f"linli.{m.name}.events")]
    return sorted(found)


def declared_types(modules: Iterable[str]) -> dict[str, type[EventPayload]]:
    """Event name → the payload type its producer's module declares (one per name)."""
    out: dict[str, type[EventPayload]] = {}
    for name in modules:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, EventPayload) and obj.__module__ == name and "NAME" in vars(obj):
                assert obj.NAME not in out, f"{obj.NAME} is declared twice: {out[obj.NAME].__module__} and {name}"
                out[obj.NAME] = obj
    return out


def declared() -> dict[str, type[EventPayload]]:
    return declared_types([*event_modules(), "tests.plugin"])


def mismatches(consumer: type[EventPayload], producer: type[EventPayload]) -> list[str]:
    """Why ``consumer`` cannot read every payload ``producer`` writes (empty: it can)."""
    if consumer is producer:
        return []
    out = []
    if consumer.NAME != producer.NAME:
        out.append(f"reads {consumer.NAME}, not {producer.NAME}")
    if consumer.VERSION != producer.VERSION:
        out.append(f"reads v{consumer.VERSION}, the producer writes v{producer.VERSION}")
    theirs, mine = producer.model_fields, consumer.model_fields
    out += [f"does not know field {f!r} (it refuses unknown keys)" for f in theirs if f not in mine]
    out += [f"requires field {f!r}, which the producer does not write" for f, info in mine.items() if f not in theirs and info.is_required()]
    out += [f"reads {f!r} as {mine[f].annotation}, the producer writes {theirs[f].annotation}" for f in theirs if f in mine and mine[f].annotation != theirs[f].annotation]
    out += [f"requires {f!r}, which the producer may leave out" for f in theirs if f in mine and mine[f].is_required() and not theirs[f].is_required()]
    return out


def check_rows(rows: Iterable[Row], types: Mapping[str, type[EventPayload]], consumers: Mapping[str, list[type[EventPayload]]] | None = None) -> list[str]:
    """Problems with outbox rows: a name no module declares, a version other than the
    declared one, a payload its type refuses or that does not read back as stored, a
    consumer that cannot read it. ``consumers`` defaults to the registered handlers."""
    problems = []
    for event_id, name, payload in rows:
        typ = types.get(name)
        if typ is None:
            problems.append(f"event {event_id}: no module declares {name!r}")
            continue
        if payload.get(events.VERSION_KEY) != typ.VERSION:
            problems.append(f"event {event_id} ({name}): stored as v{payload.get(events.VERSION_KEY)}, {typ.__qualname__} is v{typ.VERSION}")
        try:
            parsed = typ.from_json(payload)
        except EventPayloadError as exc:
            problems.append(f"event {event_id}: {exc}")
            continue
        if parsed.to_json() != dict(payload):
            problems.append(f"event {event_id} ({name}): reads back as {parsed.to_json()}, stored {dict(payload)}")
        readers = consumers[name] if consumers is not None and name in consumers else [r.payload_type for r in events.registrations(name)]
        for reader in readers:
            try:
                reader.from_json(payload)
            except EventPayloadError as exc:
                problems.append(f"event {event_id}: consumer type {reader.__module__}.{reader.__qualname__} cannot read it: {exc}")
    return problems


def outbox(db: Database) -> list[Row]:
    with db.transaction() as s:
        return [(i, n, p) for i, n, p in s.execute(select(OutboxEvent.id, OutboxEvent.name, OutboxEvent.payload).order_by(OutboxEvent.id))]


def raw_event(db: Database, name: str, payload: dict[str, Any]) -> int:
    """An outbox row written as another process (an older or newer release) would."""
    with db.transaction() as s:
        row = OutboxEvent(name=name, payload=payload, created_at=utcnow())
        s.add(row)
        s.flush()
        return row.id


def a_paid_order() -> OrderPaid:
    line = LineFacts(line_id=7, sku_id=3, product_id=2, category="水果", qty=2, paid=13600, refunded=0)
    return OrderPaid(
        order_id=5, merchant_id=1, member_id=9, community_id=4, pickup_point_id=6, campaign_id=None, team_id=None, invite_code=None,
        total_paid=13600, lines=(line,), paid_at=datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc),
    )


# --- the declared contracts -------------------------------------------------------------------


def test_every_event_has_one_declared_type_with_a_version_and_every_consumer_reads_it():
    types = declared()
    assert {"order.paid", "payment.succeeded", "member.joined", "campaign.closed", "withdrawal.approved"} <= set(types)
    assert all(type(t.VERSION) is int and t.VERSION >= 1 for t in types.values())
    handled = events.handled_names()
    assert "order.paid" in handled and len(events.registrations("order.paid")) >= 3
    problems = []
    for name in handled:
        producer = types.get(name)
        for reg in events.registrations(name):
            if producer is None:
                problems.append(f"{reg.key} listens to {name!r}, which no module declares")
            else:
                problems += [f"{reg.key}: {p}" for p in mismatches(reg.payload_type, producer)]
    assert problems == []


def test_a_consumer_type_that_differs_from_its_producers_is_caught():
    class Narrow(EventPayload):  # knows only what it needs, so refuses the rest
        NAME = "order.paid"
        order_id: int
        team_id: int | None

    class Retyped(EventPayload):
        NAME = "order.paid"
        VERSION = 2

    assert mismatches(OrderPaid, OrderPaid) == []
    narrow = mismatches(Narrow, OrderPaid)
    assert "does not know field 'total_paid' (it refuses unknown keys)" in narrow and len(narrow) == len(OrderPaid.model_fields) - 2
    assert "reads v2, the producer writes v1" in mismatches(Retyped, OrderPaid)
    assert mismatches(plugin.Ping, OrderPaid)[0] == "reads test.ping, not order.paid"


# --- real flows -----------------------------------------------------------------------------


def _orders_money_and_people(client, db, merchant, clock) -> Shop:
    """identity, community, referral, orders, payments and commission events."""
    mid, owner = merchant.id, merchant.owner
    assert client.post(f"/api/v1/merchants/{mid}/staff", json={"phone": "13800000009", "role": "finance"}, headers=owner).status_code == 201
    shop = campaign_shop(client, merchant).shop  # communities, a leader (who becomes a sharer)
    events.drain(db)
    code = client.get("/api/v1/me/invite", params={"merchant_id": mid}, headers=shop.leader).json()["code"]
    buyer = login(client, "13700000901", invite_code=code)  # joins with the code: bound
    login(client, "13700000901", invite_code=code)  # comes back with it
    assert client.patch("/api/v1/me", json={"community_id": shop.community_id}, headers=buyer).status_code == 200
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 2)])
    assert client.post(f"/api/v1/merchants/{mid}/orders/{o['id']}/ready", headers=owner).status_code == 200
    assert client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader).status_code == 200
    events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))  # completed, settled
    r = client.post("/api/v1/me/withdrawals", json={"merchant_id": mid, "amount": 100}, headers=shop.leader)
    assert r.status_code == 201 and r.json()["status"] == "approved", r.text
    o2 = buy(client, db, buyer, shop, [(shop.skus["apple"], 1)])
    case = client.post(f"/api/v1/orders/{o2['id']}/refunds", json={"lines": [{"line_id": o2["lines"][0]["id"], "amount": 1000}], "reason": "坏果"}, headers=buyer).json()
    assert client.post(f"/api/v1/merchants/{mid}/refunds/{case['id']}/approve", headers=owner).status_code == 200
    unpaid = order(client, buyer, shop, [(shop.skus["apple"], 1)]).json()
    assert client.post(f"/api/v1/orders/{unpaid['id']}/cancel", headers=buyer).status_code == 200
    for action in ("suspend", "reinstate"):
        assert client.post(f"/api/v1/merchants/{mid}/sharers/{shop.leader_id}/{action}", json={"note": "复核"}, headers=owner).status_code == 200
    events.drain(db)
    return shop


def _campaigns(client, db, shop: Shop, clock) -> None:
    """Teams that form and fail, and the close of a group buy, a pre-sale and a threshold."""
    berry = shop.skus["berry"]
    c = create_campaign(client, shop, "group_buy", clock.current, hours=48, team_size=2, team_hours=1)
    add_offer(client, shop, c["id"], sku_id=berry, price=4990)
    a, b, lone = (resident(client, f"1370000095{i}", shop.community_id) for i in range(3))
    first = order(client, a, shop, [(berry, 1)], campaign_id=c["id"]).json()
    pay(client, db, a, first["id"])
    second = order(client, b, shop, [(berry, 1)], team_id=first["team_id"]).json()
    assert pay(client, db, b, second["id"])["status"] == "paid"  # the team formed
    alone = order(client, lone, shop, [(berry, 1)], campaign_id=c["id"]).json()
    pay(client, db, lone, alone["id"])
    jobs.run_due(db, clock.advance(hours=1, minutes=1))  # that team fails at its deadline
    presale = create_campaign(client, shop, "presale", clock.current, title="今晚订·明早达", promised_date=(clock.current + timedelta(days=1)).date().isoformat(), promised_note="明早送达")
    add_offer(client, shop, presale["id"], sku_id=shop.skus["apple"], price=2500)
    buy(client, db, a, shop, [(shop.skus["apple"], 2)], campaign_id=presale["id"])
    threshold = create_campaign(client, shop, "threshold", clock.current, title="满2单每单减5元", tiers=[[2, 500]], miss_policy="proceed")
    add_offer(client, shop, threshold["id"], sku_id=berry, price=6000)
    for neighbour in (a, b):
        assert buy(client, db, neighbour, shop, [(berry, 1)], campaign_id=threshold["id"])["status"] == "grouping"
    jobs.run_due(db, clock.advance(days=2))
    jobs.run_due(db, clock.advance(minutes=30))
    events.drain(db)


def _stored_value(client, db, shop: Shop) -> None:
    """A top-up: a payment whose subject is not an order (payment.succeeded names it); its
    principal refunded (a payout to the top-up's payment, asked of the gateway after commit)."""
    member = login(client, "13700000962")
    t = client.post("/api/v1/me/topups", json={"merchant_id": shop.merchant_id, "pay": 10_000}, headers=member).json()
    assert client.post(f"/api/v1/payments/sandbox/{t['payment_id']}/complete", headers=member).status_code == 202
    events.drain(db)
    assert client.post("/api/v1/me/stored-value/refund", json={"merchant_id": shop.merchant_id}, headers=member).status_code == 201
    events.drain(db)


def _incentives(client, db, shop: Shop, clock) -> None:
    """A referral programme: one friend's first order granted, another's voided by a refund;
    the inviter's 带货铜牌 (set at 120 元) granted by the second sale and revoked by its refund."""
    assert client.put(f"/api/v1/merchants/{shop.merchant_id}/badge-settings", json={"gmv_bronze": 12_000}, headers=shop.owner).status_code == 200
    body = {"name": "邀邻居", "starts_at": clock.current.isoformat(), "ends_at": (clock.current + timedelta(days=60)).isoformat(), "min_paid": 5000,
            "inviter_reward": {"kind": "points", "amount": 100}}
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/referral-programmes", json=body, headers=shop.owner).status_code == 201
    code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=login(client, "13700000970")).json()["code"]
    for phone, refund in (("13700000971", 0), ("13700000972", 3000)):
        friend = login(client, phone, invite_code=code)
        o = buy(client, db, friend, shop, [(shop.skus["berry"], 1)])
        assert client.post(f"/api/v1/merchants/{shop.merchant_id}/orders/{o['id']}/ready", headers=shop.owner).status_code == 200
        assert client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader).status_code == 200
        events.drain(db)
        if refund:
            case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": refund}], "reason": "坏果"}, headers=friend).json()
            if case["status"] == "requested":
                assert client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{case['id']}/approve", headers=shop.owner).status_code == 200
            events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))  # the granted one's window closes
    events.drain(db)


def _risk(client, db, shop: Shop) -> None:
    """A sharer's second account on their own phone buys through them: the case is clawed
    back (commission.clawed_back)."""
    from tests.risk.test_cases import appoint, decide, invitee, open_cases

    class _Merchant:  # what the risk test helpers read of a merchant
        id, owner = shop.merchant_id, shop.owner

    _, sharer_id, code = appoint(client, _Merchant, "13700000980", "risk-flow-phone-0980")
    alt = invitee(client, db, _Merchant, "13700000981", "risk-flow-phone-0980", code)
    buy(client, db, alt, shop, [(shop.skus["berry"], 1)])
    [case] = [c for c in open_cases(client, _Merchant) if c["member_id"] == sharer_id]
    assert decide(client, _Merchant, case["id"], "claw_back", reason="同一手机注册的小号").status_code == 200
    events.drain(db)


def _funnel(client, db, shop: Shop) -> None:
    """A sharer takes their poster (code.shared) and a neighbour opens the link (code.visited)."""
    from tests.web.conftest import HTML

    sharer = login(client, "13700000990")
    code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=sharer).json()["code"]
    assert client.get("/api/v1/me/poster", params={"merchant_id": shop.merchant_id}, headers=sharer).status_code == 200
    assert client.get(f"/i/{code}", headers=HTML).status_code == 200
    events.drain(db)


def _rewards_levels(client, db, shop: Shop, clock) -> None:
    """A member's level: up on a received order, a downgrade announced before the review."""
    body = [{"name": "银卡", "growth": 5000}, {"name": "金卡", "growth": 20000, "discount_bp": 500}]
    assert client.put(f"/api/v1/merchants/{shop.merchant_id}/levels", json=body, headers=shop.owner).status_code == 200
    member = resident(client, "13700000961", shop.community_id)
    o = buy(client, db, member, shop, [(shop.skus["berry2"], 2)])  # 256.00 元: 金卡 on receipt
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/orders/{o['id']}/ready", headers=shop.owner).status_code == 200
    assert client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader).status_code == 200
    events.drain(db)
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 12000}], "reason": "坏果"}, headers=member).json()
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{case['id']}/approve", headers=shop.owner).status_code == 200
    events.drain(db)
    jobs.run_due(db, clock.advance(days=340))  # the review is a year after the first level


def _rewards(db, clock) -> None:
    """The points the flows above earned come within 30 days of expiring (a reminder)."""
    clock.current = datetime(2027, 12, 1, 16, 0, tzinfo=timezone.utc)  # 30 days before the end of 2027 in Shanghai
    jobs.run_due(db, clock.current)
    events.drain(db)


def _refund_not_received(db, clock) -> None:
    """A provider's refund that did not reach the buyer (the sandbox's never fail)."""
    from linli.payments import service as payments
    from linli.payments.models import Payment, PaymentRefund

    with db.transaction() as s:
        p = s.scalars(select(Payment).where(Payment.status == "succeeded", Payment.refunded == 0).order_by(Payment.id)).first()
        r = PaymentRefund(merchant_id=p.merchant_id, payment_id=p.id, amount=1, request_key="contract:abnormal", status="processing", created_at=clock())
        s.add(r)
        s.flush()
        assert payments.settle_refund(s, r, "abnormal")


def test_every_row_real_flows_write_parses_with_its_declared_type_and_version(client, db, merchant, clock):
    shop = _orders_money_and_people(client, db, merchant, clock)
    _campaigns(client, db, shop, clock)
    _stored_value(client, db, shop)
    _incentives(client, db, shop, clock)
    _risk(client, db, shop)
    _funnel(client, db, shop)
    _rewards_levels(client, db, shop, clock)
    _rewards(db, clock)
    _refund_not_received(db, clock)
    rows = outbox(db)
    assert check_rows(rows, declared()) == []
    # The flows reach every event the domains declare, so none of them goes unchecked.
    domain_events = set(declared_types(event_modules()))
    assert domain_events - {name for _, name, _ in rows} == set()
    closed = {p["kind"]: p for _, name, p in rows if name == "campaign.closed"}
    assert set(closed) == {"group_buy", "presale", "threshold"}
    assert "units" in closed["presale"] and "communities" in closed["threshold"] and "units" not in closed["group_buy"]
    subjects = {p.get("subject", "order") for _, name, p in rows if name == "payment.succeeded"}
    assert subjects == {"order", "topup"}
    # And every handler read what it was given: a handler that misread a payload (a missing
    # attribute) fails, which the dispatcher records and retries rather than raising here.
    events.drain(db)
    with db.transaction() as s:
        failed = [(e.id, e.name, e.last_error) for e in s.scalars(select(OutboxEvent).where((OutboxEvent.done_at.is_(None)) | (OutboxEvent.last_error.is_not(None))))]
    assert failed == []


def test_the_row_check_catches_unknown_names_extra_missing_and_mistyped_fields(db):
    good = a_paid_order().to_json()
    old = {k: v for k, v in good.items() if k != "v"}
    ids = {
        "unknown": raw_event(db, "order.payed", good),
        "extra": raw_event(db, "order.paid", {**good, "coupon": 0}),
        "missing": raw_event(db, "order.paid", {k: v for k, v in good.items() if k != "total_paid"}),
        "mistyped": raw_event(db, "order.paid", {**good, "total_paid": "136.00"}),
        "line": raw_event(db, "order.paid", {**good, "lines": [{**good["lines"][0], "paid": 136.0}]}),
        "unversioned": raw_event(db, "order.paid", old),
    }
    good_id = raw_event(db, "order.paid", good)
    problems = check_rows(outbox(db), declared())
    for what, event_id in ids.items():
        assert [p for p in problems if p.startswith(f"event {event_id}")], f"the {what} row passed: {problems}"
    assert not [p for p in problems if p.startswith(f"event {good_id}")]
    # A consumer whose type cannot read the producer's rows fails the check too.
    class Narrow(EventPayload):
        NAME = "order.paid"
        order_id: int

    assert check_rows([(good_id, "order.paid", good)], declared(), {"order.paid": [OrderPaid]}) == []
    [problem] = check_rows([(good_id, "order.paid", good)], declared(), {"order.paid": [Narrow]})
    assert "cannot read it" in problem and "total_paid" in problem
    # A row written before payloads were typed (no "v") is version 1 and still parses.
    assert OrderPaid.from_json(old) == a_paid_order()


# --- versions ---------------------------------------------------------------------------------


def test_a_version_a_type_does_not_know_is_refused_not_guessed():
    newer = {**a_paid_order().to_json(), "v": 2}
    with pytest.raises(EventVersionTooNew, match="order.paid v2 is newer"):
        OrderPaid.from_json(newer)

    class PingV2(EventPayload):
        NAME = "test.ping"
        VERSION = 2

    with pytest.raises(EventPayloadError, match="v1 is older"):
        PingV2.from_json({})
    for bad in ("2", 0, None):
        with pytest.raises(EventPayloadError, match="is not a version"):
            plugin.Ping.from_json({"v": bad})


def test_an_event_newer_than_its_handlers_understand_stays_for_retry_and_is_logged(effects, caplog):
    db = effects
    newer = raw_event(db, "test.ping", {"v": 2})
    with caplog.at_level(logging.ERROR, logger="linli.events"), pytest.raises(events.HandlerFailed, match="newer"):
        events.process_event(db, newer)
    assert plugin.effects(db) == []  # no handler ran
    with db.transaction() as s:
        row = s.get(OutboxEvent, newer)
        assert row.done_at is None and row.attempts == 1 and row.next_attempt_at is not None
        assert "tests.record_a: refused: test.ping v2 is newer" in row.last_error and "tests.record_b: refused" in row.last_error
        assert s.scalar(select(func.count()).select_from(HandledEvent)) == 0
    assert [r.getMessage() for r in caplog.records if "refused event" in r.getMessage()][0].startswith(f"handler tests.record_a refused event {newer} (test.ping)")
    # The dispatcher leaves it alone until its retry is due; an old row (no "v") is handled.
    old = raw_event(db, "test.ping", {})
    events.drain(db)
    assert plugin.effects(db) == [(old, "record_a"), (old, "record_b")]


def test_a_domain_event_from_a_newer_producer_is_left_for_a_newer_worker(db):
    eid = raw_event(db, "order.paid", {**a_paid_order().to_json(), "v": 2})
    with pytest.raises(events.HandlerFailed):
        events.process_event(db, eid)
    with db.transaction() as s:
        row = s.get(OutboxEvent, eid)
        refused = {line.split(": refused:")[0] for line in row.last_error.splitlines()}
        assert row.done_at is None and s.scalar(select(func.count()).select_from(HandledEvent)) == 0
    assert refused == {r.key for r in events.registrations("order.paid")}
