"""Member levels, the new-member and the birthday coupon, through the API on SQLite and
PostgreSQL: levels a merchant sets (thresholds strictly increasing), growth from received
orders lowered by refunds, an upgrade at once and a downgrade only at the yearly review with
one notice, the level's discount priced into an order and recorded on it, the new-member
coupon once, the birthday coupon once a year."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

from sqlalchemy import select

from linli import events, jobs, ledger
from linli.events import OutboxEvent
from linli.rewards import rules
from linli.rewards.models import Coupon, MemberLevel, OrderRewards
from tests.campaigns.helpers import add_offer, create_campaign, resident
from tests.conftest import login, problem_code
from tests.orders.helpers import buy, make_shop, order

SILVER, GOLD = 5000, 20000


def _levels(client, shop, body=None, status=200):
    body = body if body is not None else [
        {"name": "银卡", "growth": SILVER, "discount_bp": 0},
        {"name": "金卡", "growth": GOLD, "discount_bp": 1000, "free_delivery": True},
    ]
    r = client.put(f"/api/v1/merchants/{shop.merchant_id}/levels", json=body, headers=shop.owner)
    assert r.status_code == status, r.text
    return r


def _template(client, shop, **body):
    base = {"name": "新人尝鲜券", "kind": "fixed", "amount": 990, "total": 1000, "per_member": 1, "valid_days": 30, "claimable": False}
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/coupon-templates", json={**base, **body}, headers=shop.owner)
    assert r.status_code == 201, r.text
    return r.json()


def _receive(client, db, shop, o) -> None:
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/orders/{o['id']}/ready", headers=shop.owner).status_code == 200
    assert client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader).status_code == 200
    events.drain(db)


def _refund(client, db, shop, buyer, o, amount) -> None:
    r = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": amount}], "reason": "坏果"}, headers=buyer)
    assert r.status_code == 201, r.text
    if r.json()["status"] != "refunded":
        assert client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{r.json()['id']}/approve", headers=shop.owner).status_code == 200
    events.drain(db)


def _wallet_level(client, shop, buyer) -> dict:
    r = client.get("/api/v1/me/wallet", params={"merchant_id": shop.merchant_id}, headers=buyer)
    assert r.status_code == 200, r.text
    return r.json()["level"]


def _events(db, name: str, member_id: int) -> list[dict]:
    with db.transaction() as s:
        return [p for p in s.scalars(select(OutboxEvent.payload).where(OutboxEvent.name == name).order_by(OutboxEvent.id)) if p["member_id"] == member_id]


def _member_id(client, h) -> int:
    return client.get("/api/v1/me", headers=h).json()["id"]


def _again(client, shop, phone: str) -> dict:
    """After the clock moved past the tokens' life: the staff, the leader and ``phone`` log in again."""
    shop.owner, shop.leader = login(client, "13800000001"), login(client, "13900000001")
    return login(client, phone)


def _ledger_ok(db) -> None:
    with db.transaction() as s:
        assert ledger.check(s) == []


# --- pure rules -------------------------------------------------------------------------------


def test_reviews_fall_on_the_anniversary_and_birthdays_on_29_february_are_kept():
    utc = timezone.utc
    assert rules.years_later(datetime(2026, 11, 22, 2, 0, tzinfo=utc)) == datetime(2027, 11, 22, 2, 0, tzinfo=utc)
    assert rules.years_later(datetime(2028, 2, 28, 17, 0, tzinfo=utc)) == datetime(2029, 2, 27, 17, 0, tzinfo=utc)  # 29 Feb 01:00 in Shanghai → 28 Feb
    review = datetime(2027, 11, 22, tzinfo=utc)
    assert rules.next_review(review, review - timedelta(seconds=1)) == review
    assert rules.next_review(review, review + timedelta(days=800)) == datetime(2030, 11, 22, tzinfo=utc)
    assert rules.birthdays_on(date(2027, 2, 28)) == [(2, 28), (2, 29)]
    assert rules.birthdays_on(date(2028, 2, 28)) == [(2, 28)]
    assert rules.level_unit_price(2990, 1000) == 2691 and rules.level_unit_price(1, 9999) == 1


# --- levels -----------------------------------------------------------------------------------


def test_an_operator_sets_levels_and_bad_ones_are_refused_with_a_code_unchanged(client, merchant):
    shop = make_shop(client, merchant)
    _levels(client, shop)
    got = client.get(f"/api/v1/merchants/{shop.merchant_id}/levels", headers=shop.owner).json()
    assert [(lv["rank"], lv["name"], lv["growth"], lv["discount_bp"], lv["free_delivery"]) for lv in got] == [(0, "银卡", SILVER, 0, False), (1, "金卡", GOLD, 1000, True)]
    other = client.post("/api/v1/merchants", json={"name": "隔壁鲜果", "owner_phone": "13800000002"}, headers=login(client, "13800000000")).json()
    foreign = _template(client, SimpleNamespace(merchant_id=other["id"], owner=login(client, "13800000002")))
    cases = [
        ([{"name": "银卡", "growth": 5000}, {"name": "金卡", "growth": 5000}], "levels.thresholds_not_increasing"),
        ([{"name": "金卡", "growth": 20000}, {"name": "银卡", "growth": 5000}], "levels.thresholds_not_increasing"),
        ([{"name": "金卡", "growth": 0, "discount_bp": 10000}], "levels.discount_invalid"),
        ([{"name": "金卡", "growth": 0, "birthday_coupon_template_id": foreign["id"]}], "levels.template_unknown"),
        ([{"name": f"L{i}", "growth": i} for i in range(11)], "levels.too_many"),
    ]
    for body, code in cases:
        r = _levels(client, shop, body, status=422)
        assert problem_code(r) == code, (body, r.text)
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/levels", headers=shop.owner).json() == got
    r = client.put(f"/api/v1/merchants/{shop.merchant_id}/levels", json=[{"name": "金卡", "growth": -1}], headers=shop.owner)
    assert r.status_code == 422
    stranger = login(client, "13700000009")
    r = client.put(f"/api/v1/merchants/{shop.merchant_id}/levels", json=[], headers=stranger)
    assert r.status_code == 404 and problem_code(r) == "merchant.not_found"


def test_a_received_order_upgrades_at_once_and_a_refund_lowers_growth(client, db, merchant):
    shop = make_shop(client, merchant)
    _levels(client, shop)
    buyer = login(client, "13700000001")
    me = _member_id(client, buyer)
    assert _wallet_level(client, shop, buyer) == {"name": None, "growth": 0, "next_at": SILVER}
    o1 = buy(client, db, buyer, shop, [(shop.skus["berry2"], 1)])  # 128.00 元
    assert _wallet_level(client, shop, buyer)["growth"] == 0  # paid is not received
    _receive(client, db, shop, o1)
    assert _wallet_level(client, shop, buyer) == {"name": "银卡", "growth": 12800, "next_at": GOLD}
    o2 = buy(client, db, buyer, shop, [(shop.skus["berry2"], 1)])
    _receive(client, db, shop, o2)
    assert _wallet_level(client, shop, buyer) == {"name": "金卡", "growth": 25600, "next_at": None}
    assert [(e["previous_rank"], e["rank"], e["level"]) for e in _events(db, "rewards.level_changed", me)] == [(None, 0, "银卡"), (1 - 1, 1, "金卡")]
    _refund(client, db, shop, buyer, o2, 6800)
    # Growth falls below 金卡 at once; the level stays until the yearly review.
    assert _wallet_level(client, shop, buyer) == {"name": "金卡", "growth": 18800, "next_at": None}
    _refund(client, db, shop, buyer, o1, 2000)  # a quick refund (坏果包赔)
    assert _wallet_level(client, shop, buyer)["growth"] == 16800
    with db.transaction() as s:
        assert s.get(MemberLevel, (shop.merchant_id, me)).growth == 16800
    # Replaying the order events changes nothing more.
    with db.transaction() as s:
        ids = list(s.scalars(select(OutboxEvent.id).where(OutboxEvent.name.in_(("order.received", "order.refunded")))))
    for eid in ids:
        events.process_event(db, eid)
    assert _wallet_level(client, shop, buyer)["growth"] == 16800
    assert len(_events(db, "rewards.level_changed", me)) == 2
    _ledger_ok(db)


def test_a_downgrade_waits_for_the_yearly_review_and_is_announced_once(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    _levels(client, shop)
    buyer = login(client, "13700000001")
    me = _member_id(client, buyer)
    first = clock.current
    _receive(client, db, shop, buy(client, db, buyer, shop, [(shop.skus["berry2"], 1)]))  # 银卡 today: reviewed on this day each year
    with db.transaction() as s:
        assert s.get(MemberLevel, (shop.merchant_id, me)).review_at == rules.years_later(first)
    clock.advance(days=100)
    buyer = _again(client, shop, "13700000001")
    o2 = buy(client, db, buyer, shop, [(shop.skus["berry2"], 1)])
    _receive(client, db, shop, o2)
    assert _wallet_level(client, shop, buyer)["name"] == "金卡"  # an upgrade does not move the review
    _refund(client, db, shop, buyer, o2, 6800)  # 18800: below 金卡
    review = rules.years_later(first)
    for at in (first + timedelta(days=300), review - timedelta(days=31)):
        jobs.run_due(db, at)
        assert _events(db, "rewards.level_downgrade_notice", me) == []
    clock.current = review - timedelta(days=20)
    jobs.run_due(db, clock.current)
    jobs.run_due(db, clock.current + timedelta(hours=1))
    jobs.run_due(db, clock.current + timedelta(days=1))
    [notice] = _events(db, "rewards.level_downgrade_notice", me)
    assert (notice["level"], notice["to_level"], notice["growth"]) == ("金卡", "银卡", 18800)
    assert datetime.fromisoformat(notice["review_at"]) == review
    buyer = _again(client, shop, "13700000001")
    assert _wallet_level(client, shop, buyer)["name"] == "金卡"
    clock.current = review + timedelta(minutes=1)
    jobs.run_due(db, clock.current)
    buyer = _again(client, shop, "13700000001")
    # At the review the first order has left the 365-day window: 6000 of the second remains.
    assert _wallet_level(client, shop, buyer) == {"name": "银卡", "growth": 6000, "next_at": GOLD}
    assert [(e["previous_rank"], e["rank"]) for e in _events(db, "rewards.level_changed", me)] == [(None, 0), (0, 1), (1, 0)]
    with db.transaction() as s:
        assert s.get(MemberLevel, (shop.merchant_id, me)).review_at == rules.years_later(review)
    jobs.run_due(db, clock.current + timedelta(days=1))
    assert len(_events(db, "rewards.level_downgrade_notice", me)) == 1
    _ledger_ok(db)


def test_the_level_discount_is_priced_into_the_order_before_the_coupon_and_recorded(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    _levels(client, shop)
    buyer = login(client, "13700000001")
    for _ in range(2):
        _receive(client, db, shop, buy(client, db, buyer, shop, [(shop.skus["berry2"], 1)]))
    assert _wallet_level(client, shop, buyer)["name"] == "金卡"  # 10% off
    t = _template(client, shop, name="满50减10", kind="threshold", amount=1000, threshold=5000, claimable=True)
    cid = client.post(f"/api/v1/coupons/{t['id']}/claim", headers=buyer).json()["id"]
    r = order(client, buyer, shop, [(shop.skus["berry"], 1), (shop.skus["apple"], 1)], coupon_id=cid)
    assert r.status_code == 201, r.text
    o = r.json()
    lines = {ln["sku_id"]: ln for ln in client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()["lines"]}
    assert (lines[shop.skus["berry"]]["unit_price"], lines[shop.skus["apple"]]["unit_price"]) == (6120, 2691)
    assert o["subtotal"] == 8811 and o["payable"] == 7811  # the coupon on the level prices
    with db.transaction() as s:
        row = s.get(OrderRewards, o["id"])
        assert (row.level, row.privileges) == ("金卡", {"discount_bp": 1000, "free_delivery": True, "level_off": 680 + 299})
    # A line priced by a campaign keeps its campaign price (no level discount on it).
    c = create_campaign(client, shop, "group_buy", clock.current, hours=48, team_size=2, team_hours=1)
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=4990)
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 201, r.text
    assert [ln["unit_price"] for ln in client.get(f"/api/v1/orders/{r.json()['id']}", headers=buyer).json()["lines"]] == [4990]
    # A member without a level pays the list price; nothing is recorded for them.
    other = login(client, "13700000002")
    plain = order(client, other, shop, [(shop.skus["berry"], 1)]).json()
    assert plain["payable"] == 6800
    with db.transaction() as s:
        assert s.get(OrderRewards, plain["id"]) is None
    _ledger_ok(db)


# --- the new-member coupon ------------------------------------------------------------------


def test_a_new_member_gets_the_new_member_coupon_once(client, db, merchant):
    shop = make_shop(client, merchant)
    t = _template(client, shop)
    mid = shop.merchant_id
    r = client.put(f"/api/v1/merchants/{mid}/new-member-coupon", json={"template_id": 999_999}, headers=shop.owner)
    assert r.status_code == 422 and problem_code(r) == "coupon.template_unknown"
    assert client.get(f"/api/v1/merchants/{mid}/new-member-coupon", headers=shop.owner).json() == {"template_id": None}
    r = client.put(f"/api/v1/merchants/{mid}/new-member-coupon", json={"template_id": t["id"]}, headers=shop.owner)
    assert r.status_code == 200 and r.json() == {"template_id": t["id"]}

    def coupons(h) -> list[str]:
        return [c["name"] for c in client.get("/api/v1/me/coupons", params={"merchant_id": mid}, headers=h).json()]

    # Choosing one of the shop's communities makes a member the shop's: the coupon, once.
    a = resident(client, "13700000001", shop.community_id)
    events.drain(db)
    assert coupons(a) == ["新人尝鲜券"]
    assert client.patch("/api/v1/me", json={"community_id": shop.community_id}, headers=a).status_code == 200
    code = client.get("/api/v1/me/invite", params={"merchant_id": mid}, headers=shop.leader).json()["code"]
    login(client, "13700000001", invite_code=code)  # and then bound by a link: still one
    events.drain(db)
    assert coupons(a) == ["新人尝鲜券"]
    # A first login through the shop's link (bound) is joining too.
    b = login(client, "13700000002", invite_code=code)
    events.drain(db)
    assert coupons(b) == ["新人尝鲜券"]
    # A customer who has bought here already is not new.
    c = login(client, "13700000003")
    buy(client, db, c, shop, [(shop.skus["apple"], 1)])
    assert client.patch("/api/v1/me", json={"community_id": shop.community_id}, headers=c).status_code == 200
    events.drain(db)
    assert coupons(c) == []
    # Replayed, the events give nothing more.
    with db.transaction() as s:
        ids = list(s.scalars(select(OutboxEvent.id).where(OutboxEvent.name.in_(("member.bound", "member.community_set")))))
    for eid in ids:
        events.process_event(db, eid)
    with db.transaction() as s:
        assert len(list(s.scalars(select(Coupon.id).where(Coupon.template_id == t["id"])))) == 2
    assert client.put(f"/api/v1/merchants/{mid}/new-member-coupon", json={"template_id": None}, headers=shop.owner).json() == {"template_id": None}
    d = resident(client, "13700000004", shop.community_id)
    events.drain(db)
    assert coupons(d) == []


# --- the birthday coupon --------------------------------------------------------------------


def test_the_birthday_coupon_comes_once_a_year_to_members_with_a_level(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    mid = shop.merchant_id
    default = _template(client, shop, name="生日券", amount=1000)
    gold = _template(client, shop, name="金卡生日券", amount=3000)
    _levels(client, shop, [{"name": "银卡", "growth": SILVER}, {"name": "金卡", "growth": GOLD, "birthday_coupon_template_id": gold["id"]}])
    r = client.put(f"/api/v1/merchants/{mid}/birthday-coupon", json={"template_id": default["id"]}, headers=shop.owner)
    assert r.status_code == 200 and r.json() == {"template_id": default["id"]}
    today = clock.current.astimezone(rules.SHANGHAI).date()  # 2026-11-22 in Shanghai
    birthday = {"birthday": today.replace(year=1990).isoformat()}
    silver, golden, nolevel, other_day = (login(client, f"1370000000{i}") for i in range(1, 5))
    for h in (silver, golden, nolevel):
        assert client.patch("/api/v1/me", json=birthday, headers=h).status_code == 200
    assert client.patch("/api/v1/me", json={"birthday": (today - timedelta(days=1)).replace(year=1990).isoformat()}, headers=other_day).status_code == 200
    _receive(client, db, shop, buy(client, db, silver, shop, [(shop.skus["berry2"], 1)]))
    _receive(client, db, shop, buy(client, db, other_day, shop, [(shop.skus["berry2"], 1)]))
    for _ in range(2):
        _receive(client, db, shop, buy(client, db, golden, shop, [(shop.skus["berry2"], 1)]))

    def birthday_coupons(h) -> list[str]:
        return [c["name"] for c in client.get("/api/v1/me/coupons", params={"merchant_id": mid}, headers=h).json() if "生日" in c["name"]]

    jobs.run_due(db, clock.current)
    jobs.run_due(db, clock.current + timedelta(minutes=5))  # run twice: once
    assert (birthday_coupons(silver), birthday_coupons(golden), birthday_coupons(nolevel), birthday_coupons(other_day)) == (["生日券"], ["金卡生日券"], [], [])
    # Next year, with a level still (bought again within the year): again, once.
    clock.advance(days=200)
    silver = _again(client, shop, "13700000001")
    _receive(client, db, shop, buy(client, db, silver, shop, [(shop.skus["berry2"], 1)]))
    next_birthday = datetime(today.year + 1, today.month, today.day, 10, 0, tzinfo=rules.SHANGHAI)
    clock.current = next_birthday
    jobs.run_due(db, clock.current)
    jobs.run_due(db, clock.current + timedelta(hours=1))
    silver, golden = _again(client, shop, "13700000001"), login(client, "13700000002")
    assert birthday_coupons(silver) == ["生日券", "生日券"]
    assert birthday_coupons(golden) == ["金卡生日券"]  # their growth left the window: no level, no coupon
    with db.transaction() as s:
        keys = sorted(s.scalars(select(Coupon.grant_key).where(Coupon.source == "birthday")))
    assert keys == sorted([f"birthday:{default['id']}:{_member_id(client, silver)}:{today.year}", f"birthday:{default['id']}:{_member_id(client, silver)}:{today.year + 1}",
                           f"birthday:{gold['id']}:{_member_id(client, golden)}:{today.year}"])
    _ledger_ok(db)


def test_a_late_event_never_grants_a_stale_upgrade(client, db, merchant):
    """An event handled late (or replayed) recomputes as of the latest recompute, not its own
    time: growth that has since left the 365-day window does not lift the member again."""
    from linli.identity import service as identity
    from linli.rewards import levels

    shop = make_shop(client, merchant)
    _levels(client, shop)
    t0 = datetime(2026, 1, 10, 4, tzinfo=timezone.utc)
    later = t0 + timedelta(days=400)  # t0's growth is out of the window by then
    with db.transaction() as s:
        member = identity.get_or_create_member(s, "13700000555", t0)
        levels.record_receipt(s, shop.merchant_id, member.id, 990_001, SILVER, t0)
        assert levels.recompute(s, shop.merchant_id, member.id, later).rank is None  # no level today
        st = levels.recompute(s, shop.merchant_id, member.id, t0 + timedelta(minutes=1))  # the old receipt's event, handled late
        assert (st.rank, st.updated_at) == (None, later)


def test_record_receipt_says_whether_it_recorded_the_growth(client, db, merchant):
    """True for the first receipt of an order, False for a replay (PostgreSQL answers an ORM
    INSERT … ON CONFLICT DO NOTHING with rowcount -1, so rowcount cannot tell)."""
    from linli.identity import service as identity
    from linli.rewards import levels

    shop = make_shop(client, merchant)
    t0 = datetime(2026, 1, 10, 4, tzinfo=timezone.utc)
    with db.transaction() as s:
        member = identity.get_or_create_member(s, "13700000556", t0)
        assert levels.record_receipt(s, shop.merchant_id, member.id, 990_002, SILVER, t0) is True
        assert levels.record_receipt(s, shop.merchant_id, member.id, 990_002, SILVER, t0) is False
        assert levels.growth_of(s, shop.merchant_id, member.id, t0) == SILVER
