"""Risk rules on the real order path (issue 14, parts 2–4): a self-referral earns nothing, a
device cluster and a refund rate put the sharer's commission on hold, velocity opens a
review, staff release / claw back / suspend with a reason, a false positive snoozes the
rule, 跨区引流 costs the leader their share, and 30 honest neighbours behind one IP trigger
nothing."""

from __future__ import annotations

import pytest

from linli import events, jobs, ledger
from linli.payments.gateway import payment_gateway
from tests.conftest import login, problem_code
from tests.orders.helpers import buy, make_shop, pay
from tests.risk.test_signals import api_login, me

API = "/api/v1"


def appoint(client, merchant, phone: str, device: str) -> tuple[dict, int, str]:
    h = api_login(client, phone, device)
    assert client.post(f"{API}/merchants/{merchant.id}/sharers", json={"phone": phone}, headers=merchant.owner).status_code in (200, 201)
    code = client.get(f"{API}/me/invite", params={"merchant_id": merchant.id}, headers=h).json()["code"]
    return h, me(client, h), code


def invitee(client, db, merchant, phone: str, device: str, code: str) -> dict:
    h = api_login(client, phone, device)
    r = client.post(f"{API}/merchants/{merchant.id}/bindings", json={"invite_code": code}, headers={**h, "X-Device-Id": device})
    assert r.status_code == 200, r.text
    events.drain(db)
    return h


def earnings(client, h, mid) -> dict:
    return client.get(f"{API}/me/earnings", params={"merchant_id": mid}, headers=h).json()


def open_cases(client, merchant) -> list[dict]:
    r = client.get(f"{API}/merchants/{merchant.id}/risk/cases", params={"status": "open"}, headers=merchant.owner)
    assert r.status_code == 200, r.text
    return r.json()


def decide(client, merchant, case_id: int, outcome: str, reason: str | None = "核实完毕", **extra):
    body = {"outcome": outcome, **({"reason": reason} if reason is not None else {}), **extra}
    return client.post(f"{API}/merchants/{merchant.id}/risk/cases/{case_id}/decide", json=body, headers=merchant.owner)


def ledger_ok(db, mid):
    with db.transaction() as s:
        assert ledger.check(s, mid) == []


def received(client, db, shop, buyer_h, clock, sku="berry", qty=1) -> dict:
    """A pickup order bought, picked up and past its after-sales window (settled)."""
    o = buy(client, db, buyer_h, shop, [(shop.skus[sku], qty)])
    assert client.post(f"{API}/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader).status_code == 200
    events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))
    return o


def sharer_with_available(client, db, merchant, clock):
    """A sharer whose honest neighbour's order was received and settled: ¥13.60 available.
    Returns (shop, the sharer's headers, their id, their code, the neighbour's headers)."""
    shop = make_shop(client, merchant)
    s_h, s_id, code = appoint(client, merchant, "13700000001", "phone-of-s-0001")
    honest = invitee(client, db, merchant, "13700000002", "phone-of-h-0002", code)
    received(client, db, shop, honest, clock)
    assert earnings(client, s_h, merchant.id)["available"] == 1360
    return shop, s_h, s_id, code, honest


def test_a_second_account_on_the_sharers_phone_earns_the_sharer_nothing(client, db, merchant):
    shop = make_shop(client, merchant)
    a, a_id, code = appoint(client, merchant, "13700000001", "phone-of-a-0001")
    honest = invitee(client, db, merchant, "13700000002", "phone-of-b-0002", code)
    buy(client, db, honest, shop, [(shop.skus["berry"], 1)])
    assert earnings(client, a, merchant.id)["frozen"] == 1360  # 20% of 6,800
    alt = invitee(client, db, merchant, "13700000009", "phone-of-a-0001", code)  # the sharer's own phone
    o = buy(client, db, alt, shop, [(shop.skus["berry"], 1)])
    assert earnings(client, a, merchant.id)["frozen"] == 1360  # nothing more: the self-referral earns nothing
    assert earnings(client, shop.leader, merchant.id)["frozen"] == 2 * 1020  # the leader shares nothing with the buyer
    [case] = open_cases(client, merchant)
    assert case["member_id"] == a_id and case["level"] == "block" and case["member_phone"] == "137****0001"
    flagged, d = case["decisions"]  # the binding was flagged (review), the order refused (block)
    assert (flagged["rule"], flagged["subject_kind"], flagged["outcome"]) == ("self_referral", "binding", "review")
    assert (d["rule"], d["subject_kind"], d["subject_id"], d["outcome"], d["rule_version"]) == ("self_referral", "order", o["id"], "block", 0)
    assert [s["kind"] for s in case["signals"]] == ["device"] and case["signals"][0]["value"].startswith("#")
    assert case["held"]["frozen"] == 1360  # the case holds the rest of the sharer's commission
    ledger_ok(db, merchant.id)


NEAR = {"name": "王女士", "phone": "13700000001", "text": "云顶华府 5 幢 1201", "lat": 30.2800, "lng": 120.1600}


def deliver(client, db, h, shop, address) -> dict:
    r = client.post(f"{API}/orders", json={"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["berry"], "qty": 1}], "address": address}, headers=h)
    assert r.status_code == 201, r.text
    return pay(client, db, h, r.json()["id"])


@pytest.mark.parametrize("kind", ["phone", "device", "payer", "address"])
def test_self_referral_by_any_shared_signal_zeroes_that_beneficiary_only(client, db, merchant, kind):
    shop = make_shop(client, merchant)
    a, a_id, code = appoint(client, merchant, "13700000001", "phone-of-a-0001")
    deliver(client, db, a, shop, NEAR)  # the sharer's own order: their phone, payer and address are on record
    alt = invitee(client, db, merchant, "13700000009", "phone-of-a-0001" if kind == "device" else "phone-of-z-0009", code)
    alt_id = me(client, alt)
    before = earnings(client, a, merchant.id)["frozen"]
    leader_before = earnings(client, shop.leader, merchant.id)["frozen"]
    gw = payment_gateway.get()
    if kind == "payer":
        gw.payers[alt_id] = gw.payer_of(a_id)
    try:
        if kind == "phone":  # goods sent to the sharer's own phone, at another address
            o = deliver(client, db, alt, shop, {**NEAR, "name": "小张", "text": "云顶华府 9 幢 302"})
        elif kind == "address":
            o = deliver(client, db, alt, shop, {**NEAR, "name": "小张", "phone": "13700000009"})
        else:
            o = buy(client, db, alt, shop, [(shop.skus["berry"], 1)])
    finally:
        gw.payers.pop(alt_id, None)
    assert earnings(client, a, merchant.id)["frozen"] == before  # nothing for the self-referral
    assert earnings(client, shop.leader, merchant.id)["frozen"] == leader_before + 1020  # the leader's share unchanged
    [case] = open_cases(client, merchant)
    refused = [d for d in case["decisions"] if d["subject_kind"] == "order"]
    assert [(d["subject_id"], d["outcome"]) for d in refused] == [(o["id"], "block")]
    assert kind in {s["kind"] for s in case["signals"]}
    ledger_ok(db, merchant.id)


def test_three_accounts_on_one_device_hold_the_sharers_commission_until_staff_release_it(client, db, merchant, clock):
    shop, s_h, s_id, code, honest = sharer_with_available(client, db, merchant, clock)
    for n in (3, 4):
        invitee(client, db, merchant, f"1370000000{n}", "farm-device-0001", code)
    assert open_cases(client, merchant) == []  # two on one device is a family, not a cluster
    invitee(client, db, merchant, "13700000005", "farm-device-0001", code)
    [case] = open_cases(client, merchant)
    assert case["level"] == "hold" and [d["rule"] for d in case["decisions"]] == ["cluster"]
    assert case["held"]["held"] == 1360
    e = earnings(client, s_h, merchant.id)
    assert e["available"] == 0 and e["held"] == 1360
    r = client.post(f"{API}/me/withdrawals", json={"merchant_id": merchant.id, "amount": 1000}, headers=s_h)
    assert r.status_code == 409 and problem_code(r) == "withdrawal.insufficient"
    ledger_ok(db, merchant.id)
    r = decide(client, merchant, case["id"], "release", reason=None)
    assert r.status_code == 422 and problem_code(r) == "risk.reason_required"
    r = decide(client, merchant, case["id"], "release", reason="   ")
    assert r.status_code == 422 and problem_code(r) == "risk.reason_required"
    r = decide(client, merchant, case["id"], "release", reason="一家三口共用一台平板，已电话核实")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["outcome"] == "release" and r.json()["amount"] == 1360
    assert earnings(client, s_h, merchant.id)["available"] == 1360
    assert client.post(f"{API}/me/withdrawals", json={"merchant_id": merchant.id, "amount": 1000}, headers=s_h).status_code == 201
    r = decide(client, merchant, case["id"], "claw_back")
    assert r.status_code == 409 and problem_code(r) == "risk.case_closed"
    ledger_ok(db, merchant.id)


def test_claw_back_takes_the_held_and_frozen_commission_and_suspend_also_suspends(client, db, merchant, clock):
    shop, s_h, s_id, code, honest = sharer_with_available(client, db, merchant, clock)
    buy(client, db, honest, shop, [(shop.skus["apple"], 1)])  # 598 frozen
    for n in (3, 4, 5):
        invitee(client, db, merchant, f"1370000000{n}", "farm-device-0001", code)
    [case] = open_cases(client, merchant)
    assert case["held"] == {"held": 1360, "frozen": 598, "reasons": [f"risk:{case['id']}"]}
    r = decide(client, merchant, case["id"], "suspend", reason="刷单：同一设备注册多个账号")
    assert r.status_code == 200 and r.json()["amount"] == 1360 + 598
    e = earnings(client, s_h, merchant.id)
    assert (e["available"], e["frozen"], e["held"]) == (0, 0, 0)
    sharers = client.get(f"{API}/merchants/{merchant.id}/sharers", headers=merchant.owner).json()
    assert next(x for x in sharers if x["member_id"] == s_id)["status"] == "suspended"
    ledger_ok(db, merchant.id)


def test_more_than_five_new_members_an_hour_through_one_sharer_opens_a_review_that_holds_nothing(client, db, merchant):
    shop = make_shop(client, merchant)
    s_h, s_id, code = appoint(client, merchant, "13700000001", "phone-of-s-0001")
    for n in range(2, 8):  # six new members, each on their own phone
        h = invitee(client, db, merchant, f"137000000{n:02d}", f"own-phone-{n:04d}", code)
        buy(client, db, h, shop, [(shop.skus["apple"], 1)])
    [case] = open_cases(client, merchant)
    assert case["level"] == "review" and {d["rule"] for d in case["decisions"]} == {"velocity"}
    assert case["decisions"][0]["evidence"]["last_hour"] == 6
    assert case["held"]["held"] == 0 and earnings(client, s_h, merchant.id)["frozen"] == 6 * 598


def test_a_refund_rate_over_thirty_percent_holds_and_a_false_positive_snoozes_the_rule(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    s_h, s_id, code = appoint(client, merchant, "13700000001", "phone-of-s-0001")
    orders = []
    for n in range(2, 7):  # five attributed orders
        h = invitee(client, db, merchant, f"137000000{n:02d}", f"own-phone-{n:04d}", code)
        orders.append((h, buy(client, db, h, shop, [(shop.skus["apple"], 1)])))
        clock.advance(hours=2)

    def refund(h, o):
        line = o["lines"][0]
        case = client.post(f"{API}/orders/{o['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": line["paid"]}], "reason": "坏果"}, headers=h).json()
        assert client.post(f"{API}/merchants/{merchant.id}/refunds/{case['id']}/approve", headers=merchant.owner).status_code == 200
        events.drain(db)

    refund(*orders[0])
    assert open_cases(client, merchant) == []  # 20%
    refund(*orders[1])
    [case] = open_cases(client, merchant)  # 40% of 5
    assert case["level"] == "hold" and [d["rule"] for d in case["decisions"]] == ["refund_rate"]
    assert case["decisions"][0]["evidence"]["rate_bp"] == 4000
    r = decide(client, merchant, case["id"], "release", reason="两单都是物流压坏，已核实", false_positive=True)
    assert r.status_code == 200 and r.json()["false_positive"] is True
    refund(*orders[2])  # 60% now, but the rule is snoozed for this sharer
    assert open_cases(client, merchant) == []
    r = decide(client, merchant, case["id"], "release", reason="again")
    assert r.status_code == 409


def test_false_positive_goes_with_release_only(client, db, merchant):
    shop = make_shop(client, merchant)
    a, a_id, code = appoint(client, merchant, "13700000001", "phone-of-a-0001")
    alt = invitee(client, db, merchant, "13700000009", "phone-of-a-0001", code)
    buy(client, db, alt, shop, [(shop.skus["apple"], 1)])
    [case] = open_cases(client, merchant)
    r = decide(client, merchant, case["id"], "claw_back", false_positive=True)
    assert r.status_code == 422 and problem_code(r) == "risk.false_positive_release"
    r = decide(client, merchant, case["id"], "pardon")
    assert r.status_code == 422
    assert open_cases(client, merchant)[0]["status"] == "open"  # nothing half-written


def test_thirty_honest_neighbours_behind_one_ip_trigger_nothing(client, db, merchant, clock):
    """One compound, one NAT (every test request comes from one IP): each neighbour has
    their own phone, they join over a week and buy, and nobody is flagged."""
    shop = make_shop(client, merchant)
    s_h, s_id, code = appoint(client, merchant, "13700000001", "phone-of-s-0001")
    for n in range(30):
        h = invitee(client, db, merchant, f"1360000{n:04d}", f"neighbour-phone-{n:04d}", code)
        buy(client, db, h, shop, [(shop.skus["apple"], 1)])
        clock.advance(hours=5)
    r = client.get(f"{API}/merchants/{merchant.id}/risk/cases", headers=merchant.owner)
    assert r.json() == [], [(c["level"], [(d["rule"], d["evidence"]) for d in c["decisions"]]) for c in r.json()]
    assert earnings(client, s_h, merchant.id)["frozen"] + earnings(client, s_h, merchant.id)["available"] == 30 * 598


def test_a_delivery_more_than_3_km_from_the_leaders_community_earns_the_leader_nothing(client, db, merchant):
    shop = make_shop(client, merchant)
    client.put(f"{API}/merchants/{merchant.id}/order-settings", json={"delivery_radius_m": 8000}, headers=merchant.owner)
    buyer = api_login(client, "13700000002", "own-phone-0002")
    near = {"name": "王女士", "phone": "13700000002", "text": "云顶华府 5 幢 1201", "lat": 30.2800, "lng": 120.1600}
    far = {"name": "王女士", "phone": "13700000002", "text": "滨江某小区 1 幢", "lat": 30.2100, "lng": 120.1600}  # about 7 km south
    body = {"merchant_id": merchant.id, "items": [{"sku_id": shop.skus["berry"], "qty": 1}]}
    for address in (near, far):
        r = client.post(f"{API}/orders", json={**body, "address": address}, headers=buyer)
        assert r.status_code == 201, r.text
        pay(client, db, buyer, r.json()["id"])
    assert earnings(client, shop.leader, merchant.id)["frozen"] == 1020  # the near one only
    assert open_cases(client, merchant) == []  # 跨区引流 refuses the share, it opens no case
    page = client.get(f"/console/merchants/{merchant.id}/orders/{r.json()['id']}", headers={**merchant.owner, "Accept": "text/html"})
    assert "跨区" in page.text


@pytest.mark.parametrize("role", ["operator", "service"])
def test_only_finance_and_owners_see_and_decide_cases(client, db, merchant, role):
    shop = make_shop(client, merchant)
    a, a_id, code = appoint(client, merchant, "13700000001", "phone-of-a-0001")
    alt = invitee(client, db, merchant, "13700000009", "phone-of-a-0001", code)
    buy(client, db, alt, shop, [(shop.skus["apple"], 1)])
    [case] = open_cases(client, merchant)
    assert client.post(f"{API}/merchants/{merchant.id}/staff", json={"phone": "13800000077", "role": role}, headers=merchant.owner).status_code in (200, 201)
    staff = login(client, "13800000077")
    assert client.get(f"{API}/merchants/{merchant.id}/risk/cases", headers=staff).status_code == 403
    assert client.post(f"{API}/merchants/{merchant.id}/risk/cases/{case['id']}/decide", json={"outcome": "release", "reason": "x"}, headers=staff).status_code == 403
    assert client.post(f"{API}/merchants/{merchant.id}/staff", json={"phone": "13800000078", "role": "finance"}, headers=merchant.owner).status_code in (200, 201)
    fin = login(client, "13800000078")
    r = client.post(f"{API}/merchants/{merchant.id}/risk/cases/{case['id']}/decide", json={"outcome": "release", "reason": "核实"}, headers={**fin, "Idempotency-Key": "d-1"})
    assert r.status_code == 200
    again = client.post(f"{API}/merchants/{merchant.id}/risk/cases/{case['id']}/decide", json={"outcome": "release", "reason": "核实"}, headers={**fin, "Idempotency-Key": "d-1"})
    assert again.status_code == 200 and again.json() == r.json()
    assert r.json()["decided_by"] == me(client, fin) and r.json()["reason"] == "核实"


def test_a_case_past_its_sla_is_flagged_once(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    a, a_id, code = appoint(client, merchant, "13700000001", "phone-of-a-0001")
    alt = invitee(client, db, merchant, "13700000009", "phone-of-a-0001", code)
    buy(client, db, alt, shop, [(shop.skus["apple"], 1)])
    [case] = open_cases(client, merchant)
    assert case["overdue"] is False
    ran = jobs.run_due(db, clock.advance(days=7, minutes=1))
    assert ran.get("risk.case_sla") == 1
    assert open_cases(client, merchant)[0]["overdue"] is True
    assert jobs.run_due(db, clock.advance(minutes=1)).get("risk.case_sla", 0) == 0


@pytest.mark.parametrize(("new_days", "flagged"), [(30, True), (1, False)])
def test_who_counts_as_new_for_velocity_follows_its_own_knob(client, db, merchant, clock, new_days, flagged):
    """Six members bound two days ago buy within an hour: new by the default 30 days (a
    review), not new when the merchant says a member is new for one day only."""
    r = client.put(f"{API}/merchants/{merchant.id}/risk/rules", json={"velocity_new_days": new_days}, headers=merchant.owner)
    assert r.status_code == 200, r.text
    shop = make_shop(client, merchant)
    s_h, s_id, code = appoint(client, merchant, "13700000001", "phone-of-s-0001")
    members = [invitee(client, db, merchant, f"137000000{n:02d}", f"own-phone-{n:04d}", code) for n in range(2, 8)]
    clock.advance(days=2)
    for h in members:
        buy(client, db, h, shop, [(shop.skus["apple"], 1)])
    cases = open_cases(client, merchant)
    assert [c["level"] for c in cases] == (["review"] if flagged else [])
    if flagged:
        assert cases[0]["decisions"][0]["rule_version"] == 1  # the version saved above made the finding
