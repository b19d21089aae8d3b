"""The live room's sharers (seed 003: 直播间下方常驻"一键成为分享官"的醒目按钮，并展示实时的佣金收益榜):
one tap by the shop's sharer mode, the share link of an active sharer, and the sharer board
(GMV the sharers' personal codes brought into the session, ties sharing a rank, phones
masked, refunds and risk holds taking sharers off)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from linli import events
from linli.campaigns import ports
from linli.commission import service as commission
from linli.events import OutboxEvent
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.referral import service as referral
from linli.referral.models import Sharer
from tests.campaigns.helpers import add_offer, campaign_shop, create_campaign, leader_code, resident
from tests.campaigns.test_flash import PG
from tests.conftest import login, problem_code
from tests.e2e.conftest import LiveServer
from tests.orders.concurrency import together
from tests.orders.helpers import order, pay
from tests.web.conftest import HTML, csrf, errors, page_login

PRICE = 5000


def _room(client, merchant, clock, sharer_mode: str | None = "everyone", **rules):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    if sharer_mode:
        r = client.put(f"/api/v1/merchants/{shop.merchant_id}/commission-rules", json={"sharer_mode": sharer_mode, **rules}, headers=shop.owner)
        assert r.status_code == 200, r.text
    c = create_campaign(client, shop, "live", clock.current, hours=3)
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=PRICE, quota=100, label="直播价")
    return shop, c


def _me(client, h) -> int:
    return client.get("/api/v1/me", headers=h).json()["id"]


def _code(client, h, mid: int) -> str:
    return client.get("/api/v1/me/invite", params={"merchant_id": mid}, headers=h).json()["code"]


def _sharer(client, shop, phone: str) -> tuple[dict, int, str]:
    h = login(client, phone)
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/sharer", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    return h, _me(client, h), _code(client, h, shop.merchant_id)


def _buy_through(client, db, shop, c, buyer, code: str, qty: int = 1) -> dict:
    assert client.post(f"/api/v1/campaigns/{c['id']}/enter", json={"invite_code": code}, headers=buyer).status_code == 200
    r = order(client, buyer, shop, [(shop.skus["berry"], qty)], campaign_id=c["id"])
    assert r.status_code == 201, r.text
    return pay(client, db, buyer, r.json()["id"])


def _receive(client, db, shop, buyer, o) -> dict:
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/orders/{o['id']}/ready", headers=shop.owner).status_code == 200
    o = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()
    assert client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader).status_code == 200
    events.drain(db)
    return client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()


def _refund(client, db, shop, buyer, o, amount: int) -> None:
    r = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": amount}], "reason": "坏果"}, headers=buyer)
    assert r.status_code == 201, r.text
    if r.json()["status"] == "requested":
        assert client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{r.json()['id']}/approve", headers=shop.owner).status_code == 200
    events.drain(db)


def _board(client, c, h=None) -> dict:
    r = client.get(f"/api/v1/campaigns/{c['id']}/sharer-board", headers=h or {})
    assert r.status_code == 200, r.text
    return r.json()


def _ranks(board: dict) -> list[tuple[int, int, int, int]]:
    return [(e["rank"], e["member_id"], e["orders"], e["gmv"]) for e in board["entries"]]


def _testid(html: str, name: str) -> str:
    m = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert m, f"{name} not in page"
    return m.group(1).strip()


def _rows(db, mid: int) -> list[tuple[int, str]]:
    with db.transaction() as s:
        return list(s.execute(select(Sharer.member_id, Sharer.status).where(Sharer.merchant_id == mid)).all())


def _activations(db) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.name == "sharer.activated"))


# --- one tap ------------------------------------------------------------------------------------


def test_one_tap_makes_the_member_a_sharer_and_shows_their_share_link(client, db, merchant, clock):
    shop, c = _room(client, merchant, clock, "everyone")
    page_login(client, "13700000001")
    url = f"/m/campaigns/{c['id']}"
    page = client.get(url, headers=HTML).text
    assert _testid(page, "become-sharer") == "一键成为分享官"
    assert 'data-testid="share-link"' not in page and _testid(page, "board-empty") == "还没有分享官带来订单，快来做第一个吧！"
    r = client.post(f"{url}/sharer", data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?sharer=active#sharer"
    page = client.get(r.headers["location"], headers=HTML).text
    assert _testid(page, "sharer-notice") == "你已成为分享官，快把下面的链接分享给邻居吧。"
    h = login(client, "13700000001")
    code = _code(client, h, shop.merchant_id)  # their personal code, not a leader's campaign code
    link = re.search(r'value="([^"]+)"[^>]*data-testid="share-link"', page).group(1)
    assert link == f"http://testserver{url}?code={code}"
    assert 'data-testid="become-sharer"' not in page
    # The double tap: nothing more happens (one sharer row, one activation).
    r = client.post(f"{url}/sharer", data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert _rows(db, shop.merchant_id) == [(_me(client, h), "active")] and _activations(db) == 1
    poster = client.get(f"{url}/share/poster.png", headers=HTML)
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/png" and poster.content[:4] == b"\x89PNG"
    # A neighbour opening the link enters the room through the sharer's code.
    buyer = resident(client, "13700000002", shop.community_id)
    assert client.post(f"/api/v1/campaigns/{c['id']}/enter", json={"invite_code": code}, headers=buyer).json()["invite_code"] == code


def test_in_approval_mode_the_tap_files_one_application_that_awaits_review(client, db, merchant, clock):
    shop, c = _room(client, merchant, clock, "approval")
    page_login(client, "13700000001")
    url = f"/m/campaigns/{c['id']}"
    page = client.get(url, headers=HTML).text
    assert _testid(page, "become-sharer") == "一键成为分享官" and "由商家审核" in _testid(page, "sharer-mode")
    for _ in range(2):  # a double tap files one application
        r = client.post(f"{url}/sharer", data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"{url}?sharer=applied#sharer"
    page = client.get(r.headers["location"], headers=HTML).text
    assert _testid(page, "sharer-notice") == "申请已提交。" and _testid(page, "sharer-pending") == "你的申请正在等待商家审核。"
    h = login(client, "13700000001")
    member_id = _me(client, h)
    assert _rows(db, shop.merchant_id) == [(member_id, "applied")] and _activations(db) == 0
    # The API (referral's POST /merchants/{mid}/sharer) is the same use case and as idempotent.
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/sharer", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "applied" and len(_rows(db, shop.merchant_id)) == 1
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/sharers/{member_id}/approve", headers=shop.owner).status_code == 200
    page = client.get(url, headers=HTML).text
    assert _code(client, h, shop.merchant_id) in re.search(r'value="([^"]+)"[^>]*data-testid="share-link"', page).group(1)
    # A rejected neighbour may apply again: a double tap reopens one application.
    other = login(client, "13700000002")
    other_id = _me(client, other)
    client.post(f"/api/v1/merchants/{shop.merchant_id}/sharer", headers=other)
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/sharers/{other_id}/reject", headers=shop.owner).status_code == 200
    page_login(client, "13700000002")
    assert _testid(client.get(url, headers=HTML).text, "become-sharer") == "一键成为分享官"
    for _ in range(2):
        assert client.post(f"{url}/sharer", data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False).status_code == 303
    assert sorted(_rows(db, shop.merchant_id)) == sorted([(member_id, "active"), (other_id, "applied")])


def test_modes_that_need_a_purchase_first_or_are_closed_show_the_reason_instead(client, db, merchant, clock):
    shop, c = _room(client, merchant, clock, None)  # the default: everyone_after_purchase
    page_login(client, "13700000001")
    url = f"/m/campaigns/{c['id']}"
    page = client.get(url, headers=HTML).text
    assert 'data-testid="become-sharer"' not in page
    assert _testid(page, "sharer-reason") == "你在本店的首笔订单收货后即可成为分享官。"
    # A tap anyway (a stale page) is refused with the reason, and nothing is written.
    r = client.post(f"{url}/sharer", data={"csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["你暂时还不能成为分享官，请查看下方的条件。"]
    assert _testid(r.text, "sharer-reason") == "你在本店的首笔订单收货后即可成为分享官。"
    assert _rows(db, shop.merchant_id) == []
    english = client.get(url, headers={**HTML, "accept-language": "en"}, cookies={"lang": "en"}).text
    assert _testid(english, "sharer-reason") == "You can become a sharer once your first order from this shop is received."
    client.put(f"/api/v1/merchants/{shop.merchant_id}/commission-rules", json={"sharer_mode": "spend_threshold", "spend_threshold": 10000}, headers=shop.owner)
    assert _testid(client.get(url, headers=HTML).text, "sharer-reason") == "你在本店已收货订单的金额还未达到 ¥100.00。"
    client.put(f"/api/v1/merchants/{shop.merchant_id}/commission-rules", json={"sharer_mode": "invited"}, headers=shop.owner)
    assert _testid(client.get(url, headers=HTML).text, "sharer-reason") == "本店的分享官由商家直接邀请，请联系商家。"
    r = client.post(f"{url}/sharer", data={"csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 403 and errors(r.text) == ["本店的分享官由商家直接邀请，请联系商家。"]
    # Once the first order is received the purchase-first mode makes them a sharer by itself.
    client.put(f"/api/v1/merchants/{shop.merchant_id}/commission-rules", json={"sharer_mode": "everyone_after_purchase"}, headers=shop.owner)
    h = resident(client, "13700000001", shop.community_id)
    o = order(client, h, shop, [(shop.skus["apple"], 1)])
    _receive(client, db, shop, h, pay(client, db, h, o.json()["id"]))
    assert 'data-testid="share-link"' in client.get(url, headers=HTML).text


def test_a_visitor_logs_in_and_comes_back_to_the_live_page(client, db, merchant, clock):
    shop, c = _room(client, merchant, clock, "everyone")
    url = f"/m/campaigns/{c['id']}"
    page = client.get(f"{url}?code=ABCDEFGH", headers=HTML).text
    href = re.search(r'href="([^"]+)"[^>]*data-testid="become-sharer-login"', page).group(1)
    assert href == f"/m/login?next=%2Fm%2Fcampaigns%2F{c['id']}%3Fcode%3DABCDEFGH"
    # A tap posted without a session (e.g. it expired) goes to the login, then back here.
    r = client.post(f"{url}/sharer", data={"csrf_token": csrf(client)}, headers={**HTML, "referer": f"http://testserver{url}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/m/login?next={url}"
    assert _rows(db, shop.merchant_id) == []


def test_bad_input_gets_stable_codes(client, db, merchant, clock):
    shop, c = _room(client, merchant, clock, "everyone")
    team = create_campaign(client, shop, "group_buy", clock.current, team_size=2)
    r = client.get("/api/v1/campaigns/999999/sharer-board")
    assert r.status_code == 404 and problem_code(r) == "campaign.not_found"
    r = client.get(f"/api/v1/campaigns/{team['id']}/sharer-board")
    assert r.status_code == 404 and problem_code(r) == "campaign.no_sharer_board"
    r = client.get("/api/v1/campaigns/abc/sharer-board")
    assert r.status_code == 422 and problem_code(r) == "validation.invalid"
    page_login(client, "13700000001")
    r = client.post(f"/m/campaigns/{team['id']}/sharer", data={"csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 404 and 'data-code="campaign.no_sharer_board"' in r.text
    r = client.post("/m/campaigns/999999/sharer", data={"csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 404 and 'data-code="campaign.not_found"' in r.text
    r = client.post(f"/m/campaigns/{c['id']}/sharer", data={}, headers=HTML)
    assert r.status_code == 403 and _rows(db, shop.merchant_id) == []  # no CSRF token: nothing done
    r = client.get(f"/m/campaigns/{c['id']}/share/poster.png", headers=HTML)
    assert r.status_code == 403 and 'data-code="sharer.not_active"' in r.text
    assert client.get(f"/m/campaigns/{team['id']}/sharer-board", headers=HTML).status_code == 404
    assert 'data-testid="live-sharer"' not in client.get(f"/m/campaigns/{team['id']}", headers=HTML).text


# --- the board ---------------------------------------------------------------------------------


def test_the_board_ranks_sharers_by_the_gmv_their_codes_brought_with_ties_and_masked_phones(client, db, merchant, clock):
    shop, c = _room(client, merchant, clock, "everyone")
    mid = shop.merchant_id
    a, a_id, a_code = _sharer(client, shop, "13600000001")
    _, b_id, b_code = _sharer(client, shop, "13600000002")
    _, c_id, c_code = _sharer(client, shop, "13600000003")
    _, d_id, d_code = _sharer(client, shop, "13600000004")
    not_sharer_code = _code(client, login(client, "13600000005"), mid)
    buyers = [resident(client, f"1370000001{i}", shop.community_id) for i in range(8)]

    first_a = _buy_through(client, db, shop, c, buyers[0], a_code)
    clock.advance(minutes=1)
    _buy_through(client, db, shop, c, buyers[1], b_code, qty=2)  # B reaches 100 元 first ...
    clock.advance(minutes=1)
    _buy_through(client, db, shop, c, buyers[2], a_code)  # ... A gets there a minute later
    clock.advance(minutes=1)
    _buy_through(client, db, shop, c, buyers[3], c_code)
    clock.advance(minutes=1)
    d_order = _buy_through(client, db, shop, c, buyers[4], d_code, qty=3)
    # Not on the board: a sharer buying through their own code, a member who is no sharer,
    # a leader's campaign code (the leader's board), an order not paid.
    _buy_through(client, db, shop, c, a, a_code, qty=5)
    _buy_through(client, db, shop, c, buyers[5], not_sharer_code, qty=4)
    _buy_through(client, db, shop, c, buyers[6], leader_code(client, shop, c["id"]), qty=6)
    assert client.post(f"/api/v1/campaigns/{c['id']}/enter", json={"invite_code": a_code}, headers=buyers[7]).status_code == 200
    assert order(client, buyers[7], shop, [(shop.skus["berry"], 1)], campaign_id=c["id"]).status_code == 201

    board = _board(client, c)
    assert board["phase"] == "live" and board["me"] is None
    assert _ranks(board) == [(1, d_id, 1, 3 * PRICE), (2, b_id, 1, 2 * PRICE), (2, a_id, 2, 2 * PRICE), (4, c_id, 1, PRICE)]
    assert [(e["name"], e["phone_masked"]) for e in board["entries"]] == [("邻居0004", "136****0004"), ("邻居0002", "136****0002"), ("邻居0001", "136****0001"), ("邻居0003", "136****0003")]
    assert "13600000004" not in str(board)
    # A's own line: rank, what their code brought, and their commission on it (level 1, 20%).
    assert _board(client, c, a)["me"] == {"rank": 2, "orders": 2, "gmv": 2 * PRICE, "commission": 2 * PRICE * 2000 // 10000, "code": a_code}

    # D's order is refunded in full after receipt: D leaves the board, and ranks follow.
    received = _receive(client, db, shop, buyers[4], d_order)
    _refund(client, db, shop, buyers[4], received, 3 * PRICE)
    assert _ranks(_board(client, c)) == [(1, b_id, 1, 2 * PRICE), (1, a_id, 2, 2 * PRICE), (3, c_id, 1, PRICE)]
    # A partial refund counts net: A falls behind B.
    _refund(client, db, shop, buyers[0], _receive(client, db, shop, buyers[0], first_a), 1000)
    assert _ranks(_board(client, c)) == [(1, b_id, 1, 2 * PRICE), (2, a_id, 2, 2 * PRICE - 1000), (3, c_id, 1, PRICE)]
    assert _board(client, c, a)["me"]["commission"] == (PRICE - 1000) * 2000 // 10000 + PRICE * 2000 // 10000

    # C is put under a risk hold: off the board; C still sees their own numbers, unranked.
    with db.transaction() as s:
        commission.hold(s, mid, c_id, "risk case", clock.current)
    assert _ranks(_board(client, c)) == [(1, b_id, 1, 2 * PRICE), (2, a_id, 2, 2 * PRICE - 1000)]
    c_member = login(client, "13600000003")
    assert _board(client, c, c_member)["me"] == {"rank": None, "orders": 1, "gmv": PRICE, "commission": PRICE * 2000 // 10000, "code": c_code}
    # The shop disables B's code (it pays nobody any more): B leaves the board too.
    with db.transaction() as s:
        owner = identity.get_or_create_member(s, merchant.owner_phone, clock.current)
        referral.set_code_enabled(s, Principal(owner.id, owner.phone, False), mid, b_code, False)
    assert _ranks(_board(client, c)) == [(1, a_id, 2, 2 * PRICE - 1000)]


def test_the_board_on_the_live_page_refreshes_itself_while_the_session_is_live(client, db, merchant, clock):
    shop, c = _room(client, merchant, clock, "everyone")
    _, _, code = _sharer(client, shop, "13600000001")
    buyer = resident(client, "13700000011", shop.community_id)
    _buy_through(client, db, shop, c, buyer, code, qty=2)
    page_login(client, "13600000001")
    page = client.get(f"/m/campaigns/{c['id']}", headers=HTML).text
    assert f'hx-get="/m/campaigns/{c["id"]}/sharer-board" hx-trigger="every 5s"' in page
    entry = re.search(r'data-testid="board-entry">(.*?)</li>', page, re.S).group(1)
    assert " ".join(re.sub(r"<[^>]+>", " ", entry).split()) == "1 邻居0001 136****0001 ¥100.00 1 单"
    assert "board-entry-me" in page and "我的排名：第 1 名" in page and "预估佣金 ¥20.00" in _testid(page, "board-me-commission")
    fragment = client.get(f"/m/campaigns/{c['id']}/sharer-board", headers=HTML)
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith("<section") and "hx-trigger" in fragment.text
    clock.advance(hours=4)  # ended: the final board stays, it stops polling, the button goes
    page = client.get(f"/m/campaigns/{c['id']}", headers=HTML).text
    assert 'data-testid="board-entry"' in page and "hx-trigger=\"every" not in page and 'data-testid="live-sharer"' not in page
    assert client.get(f"/api/v1/campaigns/{c['id']}/sharer-board").json()["phase"] == "ended"
    events.drain(db)


def test_board_orders_before_the_start_count_for_early_buyers_too(client, db, merchant, clock):
    """Orders of a session placed through a sharer's link count whenever they were paid."""
    shop, _ = _room(client, merchant, clock, "everyone")
    c = create_campaign(client, shop, "live", clock.current, starts_in=timedelta(minutes=10), early_access_minutes=30, title="预热直播")
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=PRICE)
    _, s_id, code = _sharer(client, shop, "13600000001")
    buyer = resident(client, "13700000011", shop.community_id)
    with ports.early_access.using(lambda s, merchant_id, member_id: True):
        _buy_through(client, db, shop, c, buyer, code)
    assert _ranks(_board(client, c)) == [(1, s_id, 1, PRICE)] and _board(client, c)["phase"] == "upcoming"


@PG
def test_taps_at_the_same_instant_make_one_sharer_and_one_activation(app, client, db, merchant, clock):
    shop, c = _room(client, merchant, clock, "everyone")
    h = login(client, "13700000001")
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            got = together(8, lambda i: http.post(f"/api/v1/merchants/{shop.merchant_id}/sharer", headers=h))
    finally:
        server.stop()
    assert [(r.status_code, r.json()["status"]) for r in got] == [(200, "active")] * 8
    assert _rows(db, shop.merchant_id) == [(_me(client, h), "active")] and _activations(db) == 1
