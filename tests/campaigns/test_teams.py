"""Group-buy teams (拼团): a full team succeeds and its orders go on; a team short at its
deadline fails and every paid order is refunded in full, commission back to zero;
``leader_free`` gives the opener their money back; joining never takes a seat it should
not, also under concurrency."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import func, select

from linli import events, jobs
from linli.campaigns.group_buy import rules as team_rules
from linli.campaigns.group_buy import service as teams
from linli.campaigns.group_buy.rules import OnPayment
from linli.campaigns.models import Team, TeamMember
from linli.orders.models import RefundCase
from tests.campaigns.helpers import add_offer, campaign_shop, create_campaign, resident
from tests.conftest import MerchantSetup, login, problem_code
from tests.e2e.conftest import LiveServer
from tests.orders.concurrency import together
from tests.orders.helpers import make_shop, order, pay

TEAM_PRICE = 4990  # the 1盒 SKU lists at 6800


def _team_campaign(client, merchant, clock, *, size=3, variant=None, hours=48, team_hours=24, shop=None):
    shop = shop or campaign_shop(client, merchant).shop
    extra = {"team_variant": variant} if variant else {}
    c = create_campaign(client, shop, "group_buy", clock.current, hours=hours, team_size=size, team_hours=team_hours, **extra)
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=TEAM_PRICE)
    return shop, c


def _neighbours(client, shop, n, first=1):
    return [resident(client, f"137000001{first + i:02d}", shop.community_id) for i in range(n)]


def _open(client, shop, buyer, campaign_id) -> dict:
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], campaign_id=campaign_id)
    assert r.status_code == 201, r.text
    assert r.json()["team_id"] is not None and r.json()["payable"] == TEAM_PRICE
    return r.json()


def _join(client, shop, buyer, team_id, **extra):
    return order(client, buyer, shop, [(shop.skus["berry"], 1)], team_id=team_id, **extra)


def _team(client, team_id) -> dict:
    r = client.get(f"/api/v1/teams/{team_id}")
    assert r.status_code == 200, r.text
    return r.json()


def _order(client, buyer, order_id) -> dict:
    return client.get(f"/api/v1/orders/{order_id}", headers=buyer).json()


def _earnings(client, shop) -> dict:
    return client.get("/api/v1/me/earnings", params={"merchant_id": shop.merchant_id}, headers=shop.leader).json()


def test_three_neighbours_pay_the_team_succeeds_and_every_order_goes_on(client, db, merchant, clock):
    shop, c = _team_campaign(client, merchant, clock)
    opener, a, b = _neighbours(client, shop, 3)
    first = _open(client, shop, opener, c["id"])
    tid = first["team_id"]
    assert pay(client, db, opener, first["id"])["status"] == "grouping"  # waits for the team
    t = _team(client, tid)
    assert t["status"] == "forming" and t["size"] == 3 and t["seats_left"] == 2 and t["price"] == TEAM_PRICE and t["campaign_id"] == c["id"]
    assert [(m["order_id"], m["paid"], m["is_opener"]) for m in t["members"]] == [(first["id"], True, True)]
    assert t["share_url"].endswith(f"/m/teams/{tid}")

    ids = []
    for buyer in (a, b):
        r = _join(client, shop, buyer, tid)
        assert r.status_code == 201, r.text
        assert r.json()["payable"] == TEAM_PRICE
        ids.append(r.json()["id"])
    assert _team(client, tid)["seats_left"] == 0
    assert pay(client, db, a, ids[0])["status"] == "grouping"
    assert _team(client, tid)["status"] == "forming"
    clock.advance(minutes=10)
    assert pay(client, db, b, ids[1])["status"] == "paid"  # the last seat paid: the team formed

    t = _team(client, tid)
    assert t["status"] == "succeeded" and t["paid_count"] == 3 and t["seconds_left"] == 0
    assert [m["paid"] for m in t["members"]] == [True, True, True]
    for buyer, oid in ((opener, first["id"]), (a, ids[0]), (b, ids[1])):
        o = _order(client, buyer, oid)
        assert o["status"] == "paid" and o["refunded"] == 0 and o["pickup_code"]
    # Anyone with the link sees nicknames masked, never a phone number.
    assert all(m["nickname"] == "邻**" for m in t["members"])
    assert "13700000" not in client.get(f"/api/v1/teams/{tid}").text
    # The deadline passing later changes nothing.
    jobs.run_due(db, clock.current + timedelta(days=2))
    assert _team(client, tid)["status"] == "succeeded"
    assert _order(client, opener, first["id"])["status"] == "paid"


def test_a_team_short_at_its_deadline_is_refunded_in_full_and_earns_nothing(client, db, merchant, clock):
    shop, c = _team_campaign(client, merchant, clock, team_hours=1)
    opener, a, late = _neighbours(client, shop, 3)
    first = _open(client, shop, opener, c["id"])
    tid = first["team_id"]
    pay(client, db, opener, first["id"])
    second = _join(client, shop, a, tid).json()
    pay(client, db, a, second["id"])
    # The leader's commission accrued on both paid orders (frozen while the team forms).
    before = _earnings(client, shop)
    assert before["frozen"] > 0 and {r["order_id"] for r in before["records"]} == {first["id"], second["id"]}

    clock.advance(minutes=50)
    unpaid = _join(client, shop, late, tid).json()  # takes the last seat, never pays
    assert _team(client, tid)["seats_left"] == 0

    clock.advance(minutes=11)  # past the deadline (1 hour), before the unpaid order's 15 minutes
    jobs.run_due(db, clock.current)
    t = _team(client, tid)
    assert t["status"] == "failed" and t["seconds_left"] == 0
    for buyer, o in ((opener, first), (a, second)):
        got = _order(client, buyer, o["id"])
        assert got["status"] == "cancelled" and got["refunded"] == got["total_paid"] == TEAM_PRICE
        assert [c["amount"] for c in got["refund_cases"]] == [TEAM_PRICE]
    assert _order(client, late, unpaid["id"])["status"] == "cancelled"
    after = _earnings(client, shop)
    assert after["frozen"] == 0 and after["available"] == 0 and sum(r["amount"] for r in after["records"]) == 0

    # Running the jobs again refunds nothing twice; paying the cancelled order is refused.
    jobs.run_due(db, clock.advance(hours=1))
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RefundCase)) == 2
    r = client.post(f"/api/v1/orders/{unpaid['id']}/pay", headers=late)
    assert r.status_code == 409 and problem_code(r) == "order.cancelled"
    # The failed team takes nobody any more.
    r = _join(client, shop, resident(client, "13700000199", shop.community_id), tid)
    assert r.status_code == 409 and problem_code(r) == "team.closed"


def test_a_payment_landing_after_the_deadline_does_not_complete_the_team(client, db, merchant, clock):
    shop, c = _team_campaign(client, merchant, clock, size=2, team_hours=1)
    opener, a = _neighbours(client, shop, 2)
    first = _open(client, shop, opener, c["id"])
    pay(client, db, opener, first["id"])
    clock.advance(minutes=50)
    second = _join(client, shop, a, first["team_id"]).json()
    clock.advance(minutes=12)  # the friend pays 2 minutes after the deadline, before the job ran
    assert pay(client, db, a, second["id"])["status"] == "grouping"
    assert _team(client, first["team_id"])["status"] == "forming"
    jobs.run_due(db, clock.current)
    assert _team(client, first["team_id"])["status"] == "failed"
    for buyer, o in ((opener, first), (a, second)):
        got = _order(client, buyer, o["id"])
        assert got["status"] == "cancelled" and got["refunded"] == TEAM_PRICE


def test_leader_free_team_refunds_the_opener_in_full_and_the_goods_still_come(client, db, merchant, clock):
    shop, c = _team_campaign(client, merchant, clock, size=3, variant="leader_free")
    opener, a, b = _neighbours(client, shop, 3)
    first = _open(client, shop, opener, c["id"])
    pay(client, db, opener, first["id"])
    others = [_join(client, shop, buyer, first["team_id"]).json() for buyer in (a, b)]
    for buyer, o in zip((a, b), others):
        pay(client, db, buyer, o["id"])
    t = _team(client, first["team_id"])
    assert t["status"] == "succeeded" and t["variant"] == "leader_free"
    mine = _order(client, opener, first["id"])
    assert mine["status"] == "paid" and mine["pickup_code"]  # 免单: the order goes on
    assert mine["refunded"] == mine["total_paid"] == TEAM_PRICE
    for buyer, o in zip((a, b), others):
        got = _order(client, buyer, o["id"])
        assert got["status"] == "paid" and got["refunded"] == 0
    # Commission follows the money: nothing on the free order, the others keep theirs.
    records = _earnings(client, shop)["records"]
    by_order = {}
    for r in records:
        by_order[r["order_id"]] = by_order.get(r["order_id"], 0) + r["amount"]
    assert by_order[first["id"]] == 0
    assert by_order[others[0]["id"]] == by_order[others[1]["id"]] == TEAM_PRICE * 1500 // 10000
    # A second delivery of the last payment's event does nothing more.
    with db.transaction() as s:
        teams.seat_paid(s, others[1]["id"], clock.current)
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RefundCase)) == 1
    assert _order(client, opener, first["id"])["refunded"] == TEAM_PRICE


def _second_shop(client, admin) -> MerchantSetup:
    r = client.post("/api/v1/merchants", json={"name": "鲜果铺子", "owner_phone": "13800000002"}, headers=admin)
    assert r.status_code == 201, r.text
    return MerchantSetup(r.json()["id"], login(client, "13800000002"), "13800000002")


def test_refused_joins_say_why_and_change_nothing(client, db, merchant, clock, admin):
    shop, c = _team_campaign(client, merchant, clock, size=2, team_hours=1)
    _, other_c = _team_campaign(client, merchant, clock, shop=shop)
    opener, a, b = _neighbours(client, shop, 3)
    first = _open(client, shop, opener, c["id"])
    tid = first["team_id"]
    pay(client, db, opener, first["id"])

    r = _join(client, shop, opener, tid)  # the opener joins their own team again
    assert r.status_code == 409 and problem_code(r) == "team.already_member"
    r = _join(client, shop, a, tid, campaign_id=other_c["id"])  # a team of another campaign
    assert r.status_code == 422 and problem_code(r) == "team.other_campaign"
    r = _join(client, shop, a, 999_999)
    assert r.status_code == 404 and problem_code(r) == "team.not_found"
    other = _second_shop(client, admin)
    other_shop = make_shop(client, other, stock=10)
    r = order(client, a, other_shop, [(other_shop.skus["berry"], 1)], team_id=tid)  # the team is another shop's
    assert r.status_code == 404 and problem_code(r) == "team.not_found"
    r = order(client, a, shop, [(shop.skus["apple"], 1)], team_id=tid)  # not the team's item
    assert r.status_code == 422 and problem_code(r) == "campaign.sku_not_in_campaign"
    t = _team(client, tid)
    assert t["seats_left"] == 1 and [m["order_id"] for m in t["members"]] == [first["id"]]
    assert client.get("/api/v1/me/orders", headers=a).json() == []

    second = _join(client, shop, a, tid)
    assert second.status_code == 201
    r = _join(client, shop, b, tid)  # both seats are taken (one still unpaid)
    assert r.status_code == 409 and problem_code(r) == "team.full"
    r = _join(client, shop, a, tid)  # joining twice
    assert r.status_code == 409 and problem_code(r) == "team.already_member"
    assert client.get("/api/v1/me/orders", headers=b).json() == []
    assert len(client.get("/api/v1/me/orders", headers=a).json()) == 1

    clock.advance(hours=2)
    jobs.run_due(db, clock.current)
    assert _team(client, tid)["status"] == "failed"
    r = _join(client, shop, b, tid)  # a failed team
    assert r.status_code == 409 and problem_code(r) == "team.closed"
    assert client.get("/api/v1/me/orders", headers=b).json() == []
    assert client.get("/api/v1/teams/999999").status_code == 404


def test_twenty_neighbours_join_a_three_person_team_at_once_and_exactly_three_are_in(app, client, db, merchant, clock):
    """Real concurrent requests; on PostgreSQL the compare-and-set on the seat count is
    what holds (SQLite takes one writer at a time)."""
    shop, c = _team_campaign(client, merchant, clock)
    opener = resident(client, "13700000100", shop.community_id)
    first = _open(client, shop, opener, c["id"])
    tid = first["team_id"]
    buyers = _neighbours(client, shop, 20, first=1)
    body = {"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["berry"], "qty": 1}], "pickup_point_id": shop.point_id, "team_id": tid}
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            answers = together(20, lambda i: http.post("/api/v1/orders", json=body, headers=buyers[i]))
    finally:
        server.stop()
    codes = [r.status_code for r in answers]
    assert codes.count(201) == 2 and codes.count(409) == 18
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"team.full"}
    with db.transaction() as s:
        assert s.get(Team, tid).seats_taken == 3
        assert s.scalar(select(func.count()).select_from(TeamMember).where(TeamMember.team_id == tid)) == 3
    # The two who got in pay: the team succeeds with exactly three.
    pay(client, db, opener, first["id"])
    for i, r in enumerate(answers):
        if r.status_code == 201:
            pay(client, db, buyers[i], r.json()["id"])
    t = _team(client, tid)
    assert t["status"] == "succeeded" and len(t["members"]) == 3 and all(m["paid"] for m in t["members"])
    events.drain(db)


def test_what_a_payment_does_to_a_team_and_what_strangers_see():
    deadline = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
    before, after = deadline - timedelta(seconds=1), deadline
    assert team_rules.on_payment("forming", deadline, before, False) is OnPayment.count
    assert team_rules.on_payment("forming", deadline, after, False) is OnPayment.wait  # too late to count
    assert team_rules.on_payment("forming", deadline, before, True) is OnPayment.wait  # counted already
    assert team_rules.on_payment("succeeded", deadline, before, True) is OnPayment.proceed
    assert team_rules.on_payment("succeeded", deadline, before, False) is OnPayment.refund
    assert team_rules.on_payment("failed", deadline, before, True) is OnPayment.refund
    assert team_rules.is_due("forming", deadline, after) and not team_rules.is_due("forming", deadline, before)
    assert not team_rules.is_due("succeeded", deadline, after)
    assert team_rules.seconds_left("forming", deadline, deadline - timedelta(hours=2)) == 7200
    assert team_rules.seconds_left("succeeded", deadline, before) == 0 and team_rules.seconds_left("forming", deadline, after) == 0
    assert team_rules.joinable("forming", 3, 2, deadline, before) and not team_rules.joinable("forming", 3, 3, deadline, before)
    assert not team_rules.joinable("forming", 3, 1, deadline, after) and not team_rules.joinable("failed", 3, 1, deadline, before)
    assert team_rules.opener_refunded("leader_free", True) and not team_rules.opener_refunded("leader_free", False)
    assert not team_rules.opener_refunded("standard", True)
    assert [team_rules.mask_nickname(n) for n in ("王阿姨", "邻居8000", "Al", "", "  ")] == ["王**", "邻**", "A**", "**", "**"]
