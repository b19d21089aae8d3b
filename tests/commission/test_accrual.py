"""Commission through the real order path: bindings, a paid order, refunds, settlement."""

import pytest
from sqlalchemy import text

from linli import events, jobs, ledger
from tests.conftest import login, problem_code
from tests.orders.helpers import buy, make_shop


def _me(client, h) -> int:
    return client.get("/api/v1/me", headers=h).json()["id"]


def _chain(client, db, merchant, shop):
    """A binds B, B binds C, C binds D; A, B, C are sharers (appointed)."""
    hs = {n: login(client, p) for n, p in (("A", "13700000001"), ("B", "13700000002"), ("C", "13700000003"), ("D", "13700000004"))}
    ids = {n: _me(client, h) for n, h in hs.items()}
    for up, down in (("A", "B"), ("B", "C"), ("C", "D")):
        code = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id}, headers=hs[up]).json()["code"]
        assert client.post(f"/api/v1/merchants/{merchant.id}/bindings", json={"invite_code": code}, headers=hs[down]).status_code == 200
    for n in ("A", "B", "C"):
        client.post(f"/api/v1/merchants/{merchant.id}/sharers", json={"phone": f"1370000000{'ABC'.index(n) + 1}"}, headers=merchant.owner)
    return hs, ids


def _earn(client, h, mid):
    return client.get("/api/v1/me/earnings", params={"merchant_id": mid}, headers=h).json()


def _no_leader(client, merchant, shop):
    client.put(f"/api/v1/merchants/{merchant.id}/communities/{shop.community_id}/leader", json={"member_id": None}, headers=merchant.owner)


def _ledger_ok(db, mid):
    with db.transaction() as s:
        assert ledger.check(s, mid) == []


def test_worked_example_of_rules(client, db, merchant):
    """RULES.md: D pays 8,470 on one line; C 1,694, B 423, A nothing, L 1,270; a 2,990
    refund recomputes C 1,096, B 274, L 822."""
    shop = make_shop(client, merchant)
    hs, ids = _chain(client, db, merchant, shop)
    # 3 × 2,990 with a 500 coupon is 8,470: set the apple to 2,990 and buy 3, then refund
    # 500 first to stand in for the coupon (the coupon step arrives with rewards).
    o = buy(client, db, hs["D"], shop, [(shop.skus["apple"], 3)])
    line = o["lines"][0]
    assert line["paid"] == 8970
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": 500}], "reason": "优惠补差"}, headers=hs["D"]).json()
    client.post(f"/api/v1/merchants/{merchant.id}/refunds/{case['id']}/approve", headers=merchant.owner)
    events.drain(db)
    # After the 500 refund the base is 8,470, exactly the worked example's.
    got = {n: _earn(client, hs[n], merchant.id)["frozen"] for n in ("A", "B", "C")}
    assert got == {"A": 0, "B": 423, "C": 1694}
    assert _earn(client, shop.leader, merchant.id)["frozen"] == 1270
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": 2990}], "reason": "一份坏了"}, headers=hs["D"]).json()
    client.post(f"/api/v1/merchants/{merchant.id}/refunds/{case['id']}/approve", headers=merchant.owner)
    events.drain(db)
    got = {n: _earn(client, hs[n], merchant.id)["frozen"] for n in ("B", "C")}
    assert got == {"B": 274, "C": 1096}
    assert _earn(client, shop.leader, merchant.id)["frozen"] == 822
    _ledger_ok(db, merchant.id)


def test_full_refund_cancels_frozen_commission(client, db, merchant):
    shop = make_shop(client, merchant)
    hs, ids = _chain(client, db, merchant, shop)
    o = buy(client, db, hs["D"], shop, [(shop.skus["berry"], 2)])  # 13,600
    assert _earn(client, hs["C"], merchant.id)["frozen"] == 2720
    assert _earn(client, hs["B"], merchant.id)["frozen"] == 680
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 13600}], "reason": "不要了"}, headers=hs["D"]).json()
    client.post(f"/api/v1/merchants/{merchant.id}/refunds/{case['id']}/approve", headers=merchant.owner)
    events.drain(db)
    c = _earn(client, hs["C"], merchant.id)
    assert c["frozen"] == 0 and [r["state"] for r in c["records"]] == ["cancelled"]
    _ledger_ok(db, merchant.id)


def test_settlement_after_completion_then_clawback_goes_negative(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    hs, ids = _chain(client, db, merchant, shop)
    o = buy(client, db, hs["D"], shop, [(shop.skus["berry"], 2)])
    client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))
    c = _earn(client, hs["C"], merchant.id)
    assert (c["frozen"], c["available"]) == (0, 2720)
    # A late refund after settlement is clawed back from available.
    clock.advance(hours=1)
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 6800}], "reason": "售后"}, headers=hs["D"]).json()
    client.post(f"/api/v1/merchants/{merchant.id}/refunds/{case['id']}/approve", headers=merchant.owner)
    events.drain(db)
    c = _earn(client, hs["C"], merchant.id)
    assert c["available"] == 1360
    _ledger_ok(db, merchant.id)


def test_two_hundred_and_fifty_sign_ups_through_one_code_earn_nothing(client, db, merchant, settings, clock):
    """Pay is only ever for real, paid sales: 250 new members through one code (the OTP
    sign-up path, at service level for speed; more than a dispatcher batch of 200 events)
    give the inviter a team and no money. (1,000 once, then 400; no rule counts sign-ups.)"""
    from linli.identity import service as identity
    from linli.security import RateLimiter, parse_limits

    a = login(client, "13700000001")
    client.post(f"/api/v1/merchants/{merchant.id}/sharers", json={"phone": "13700000001"}, headers=merchant.owner)
    code = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id}, headers=a).json()["code"]
    limiter = RateLimiter(parse_limits(settings.rate_limits))
    for i in range(250):
        with db.transaction() as s:
            phone, otp, _ = identity.request_otp(s, settings, limiter, f"135{i:08d}", "10.0.0.1", clock())
            identity.login(s, settings, limiter, phone, otp, "10.0.0.1", clock(), invite_code=code)
    events.drain(db, rounds=100)
    assert len(client.get("/api/v1/me/team", params={"merchant_id": merchant.id}, headers=a).json()) == 250
    e = _earn(client, a, merchant.id)
    assert (e["frozen"], e["available"], e["records"]) == (0, 0, [])
    _ledger_ok(db, merchant.id)


def test_rule_sets_validated_and_versioned(client, db, merchant, admin):
    url = f"/api/v1/merchants/{merchant.id}/commission-rules"
    assert client.get(url, headers=merchant.owner).json()["version"] == 0
    r = client.put(url, json={"levels": 3, "rates_bp": [2000, 500, 100]}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "commission.levels_over_max"
    r = client.put(url, json={"rates_bp": [3000, 1000], "leader_rate_bp": 1500}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "commission.rates_over_cap"
    r = client.put(url, json={"rates_bp": [1800, 400], "sharer_mode": "approval"}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["version"] == 1 and r.json()["sharer_mode"] == "approval"
    assert client.get(url, headers=merchant.owner).json()["rates_bp"] == [1800, 400]
    assert client.put(url, json={}, headers=login(client, "13700000001")).status_code == 404


@pytest.mark.parametrize("key", ["x", "0", "-1", "9223372036854775808", "1.5", "١"])
@pytest.mark.parametrize("kind", ["campaign", "product"])
def test_overrides_keyed_by_something_other_than_an_id_are_refused(client, db, merchant, kind, key):
    """Found by the fuzzer: a campaign override keyed "x" was a 500 (int("x") in the service)."""
    url = f"/api/v1/merchants/{merchant.id}/commission-rules"
    r = client.put(url, json={"rates_bp": [], "overrides": {kind: {key: [1000, 100]}}}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "commission.override_key_invalid"
    r = client.put(url, json={"overrides": {kind: {key: [1000, 100]}}, "sharer_mode": "approval"}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "commission.override_key_invalid"
    current = client.get(url, headers=merchant.owner).json()
    assert current["version"] == 0 and current["sharer_mode"] != "approval"
    r = client.put(url, json={"overrides": {kind: {"7": [1000, 100]}}}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["overrides"][kind] == {"7": [1000, 100]}


@pytest.mark.parametrize("statement", ["UPDATE ledger_entries SET amount = amount + 1", "DELETE FROM ledger_entries", "DELETE FROM ledger_transfers"])
def test_ledger_rows_are_append_only(client, db, merchant, statement):
    shop = make_shop(client, merchant)
    buy(client, db, login(client, "13700000004"), shop, [(shop.skus["berry"], 1)])  # leader earns: ledger rows exist
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar() > 0
    with pytest.raises(Exception, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text(statement))


def test_ledger_check_command_names_the_broken_account(client, db, merchant, settings, monkeypatch):
    from typer.testing import CliRunner

    from linli.cli import app as cli
    from linli.config import get_settings

    shop = make_shop(client, merchant)
    buy(client, db, login(client, "13700000004"), shop, [(shop.skus["berry"], 1)])
    monkeypatch.setenv("LINLI_DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        ok = CliRunner().invoke(cli, ["ledger", "check"])
        assert ok.exit_code == 0, ok.output
        with db.engine.begin() as conn:  # corrupt a balance behind the ledger's back
            conn.execute(text("UPDATE sharer_balances SET frozen = frozen + 1"))
        bad = CliRunner().invoke(cli, ["ledger", "check", "--merchant", str(merchant.id)])
        assert bad.exit_code == 1
        assert f"member {shop.leader_id}" in bad.output and "sharer_frozen" in bad.output
    finally:
        get_settings.cache_clear()


def test_leader_campaign_code_pays_the_leader_share_on_its_campaign_only(client, db, merchant, admin, clock):
    from tests.campaigns.helpers import add_offer, create_campaign

    shop = make_shop(client, merchant)
    # A second community led by 王姐; a buyer of 云顶华府 comes through 王姐's campaign code.
    other = client.post(f"/api/v1/merchants/{merchant.id}/communities", json={"name": "翠苑一区", "city": "杭州", "lat": 30.29, "lng": 120.13}, headers=merchant.owner).json()
    wang = login(client, "13900000002")
    client.put(f"/api/v1/merchants/{merchant.id}/communities/{other['id']}/leader", json={"member_id": _me(client, wang)}, headers=merchant.owner)
    c = create_campaign(client, shop, "live", clock.current, title="周五草莓直播")
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=6800, quota=10)
    code = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id, "campaign_id": c["id"]}, headers=wang).json()["code"]
    buyer = login(client, "13700000004")
    buy(client, db, buyer, shop, [(shop.skus["berry"], 1)], invite_code=code, campaign_id=c["id"])
    assert _earn(client, wang, merchant.id)["frozen"] == 6800 * 1500 // 10000
    assert _earn(client, shop.leader, merchant.id)["frozen"] == 0
    # The same code on an order outside the campaign names no one: 云顶华府's own leader earns.
    buy(client, db, buyer, shop, [(shop.skus["berry"], 1)], invite_code=code)
    assert _earn(client, wang, merchant.id)["frozen"] == 6800 * 1500 // 10000
    assert _earn(client, shop.leader, merchant.id)["frozen"] == 6800 * 1500 // 10000
    _ledger_ok(db, merchant.id)


def test_every_paid_order_records_the_rule_version_in_force(client, db, merchant):
    """Also an order with no commission at all: a dispute can always say which rules applied."""
    shop = make_shop(client, merchant)
    _no_leader(client, merchant, shop)
    url = f"/api/v1/merchants/{merchant.id}/commission-rules"
    first = buy(client, db, login(client, "13700000011"), shop, [(shop.skus["apple"], 1)])
    assert client.put(url, json={"rates_bp": [1800, 400]}, headers=merchant.owner).json()["version"] == 1
    second = buy(client, db, login(client, "13700000012"), shop, [(shop.skus["apple"], 1)])
    with db.engine.connect() as conn:
        versions = dict(conn.execute(text("SELECT order_id, rule_version FROM commission_order_versions")).all())
        assert conn.execute(text("SELECT count(*) FROM commission_records")).scalar() == 0
    assert versions == {first["id"]: 0, second["id"]: 1}
    page = client.get(f"/console/merchants/{merchant.id}/orders/{second['id']}", headers=merchant.owner)
    assert page.status_code == 200 and "第 1 版（付款时生效）" in page.text
