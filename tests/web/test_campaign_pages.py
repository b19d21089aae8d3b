"""The campaign pages through httpx: the console's campaign list, create form (every kind,
errors in Chinese), offers and live board; the member's campaign page (prices, quota,
eligibility, threshold progress, entry through a leader's code); the leader's kit and its
preheat poster."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

from fastapi.testclient import TestClient
from sqlalchemy import select

from linli.campaigns.models import Campaign, CampaignEntry, Offer
from tests.campaigns.helpers import add_offer, campaign_shop, create_campaign, leader_code, resident
from tests.orders.helpers import buy
from tests.web.conftest import HTML, csrf, errors, page_login

OWNER = "13800000001"  # the merchant fixture's owner
LEADER = "13900000001"  # make_shop's leader of 云顶华府 (邻居0001)
NEIGHBOUR, OUTSIDER, NO_CODE = "13700000001", "13700000002", "13700000003"


def _browser(app) -> TestClient:
    """Another browser: its own cookie jar."""
    return TestClient(app, raise_server_exceptions=False)


def _testid(html: str, name: str) -> str:
    m = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert m, f"{name} not in page"
    return m.group(1).strip()


def _all(html: str, name: str) -> list[str]:
    """The text of every element with that test id, tags dropped and spaces squeezed."""
    found = re.findall(rf'<(\w+)[^>]*data-testid="{name}"[^>]*>(.*?)</\1>', html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", inner).split()) for _tag, inner in found]


def _local(t: datetime) -> str:
    return (t + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M")


def _console(app, mid: int) -> TestClient:
    c = _browser(app)
    page_login(c, OWNER, "console")
    assert c.get(f"/console/merchants/{mid}/campaigns", headers=HTML).status_code == 200
    return c


def _create(c: TestClient, mid: int, **fields):
    return c.post(f"/console/merchants/{mid}/campaigns", data={"csrf_token": csrf(c), **fields}, headers=HTML, follow_redirects=False)


# --- console -----------------------------------------------------------------------------------------


def test_console_creates_every_kind_and_explains_problems_in_chinese(client, db, merchant, clock):
    mid = merchant.id
    c = _console(client.app, mid)
    start, end = _local(clock.current), _local(clock.current + timedelta(hours=3))
    common = {"starts_at": start, "ends_at": end, "description": "本地农场直供", "kit_copy": "今晚8点，草莓直播！"}
    kinds = {
        "live": {},
        "group_buy": {"team_size": "3", "team_hours": "12", "team_variant": "leader_free"},
        "threshold": {"tier_orders_0": "10", "tier_off_0": "5", "tier_orders_1": "25", "tier_off_1": "15.5", "miss_policy": "cancel"},
        "flash_sale": {},
        "presale": {"promised_date": (clock.current + timedelta(days=1)).date().isoformat(), "promised_note": "明早9点前送达"},
    }
    for kind, extra in kinds.items():
        r = _create(c, mid, kind=kind, title=f"草莓{kind}", **common, **extra)
        assert r.status_code == 303, r.text
        assert re.fullmatch(rf"/console/merchants/{mid}/campaigns/\d+", r.headers["location"])
    with db.transaction() as s:
        rows = {x.kind: x for x in s.scalars(select(Campaign).where(Campaign.merchant_id == mid))}
    assert set(rows) == set(kinds)
    # Typed in Beijing time and 元; stored in UTC and fen.
    assert rows["live"].starts_at.replace(tzinfo=timezone.utc) == clock.current.replace(second=0, microsecond=0)
    assert rows["threshold"].tiers == [[10, 500], [25, 1550]] and rows["threshold"].miss_policy == "cancel"
    assert (rows["group_buy"].team_size, rows["group_buy"].team_hours, rows["group_buy"].team_variant) == (3, 12, "leader_free")
    assert rows["presale"].promised_note == "明早9点前送达" and rows["live"].kit_copy == "今晚8点，草莓直播！"

    html = c.get(f"/console/merchants/{mid}/campaigns", headers=HTML).text
    assert len(re.findall('data-testid="campaign-row"', html)) == 5
    for name in ("直播场次", "拼团", "社区成团", "秒杀", "预售", "进行中"):
        assert name in html
    detail = c.get(f"/console/merchants/{mid}/campaigns/{rows['threshold'].id}", headers=HTML).text
    assert "满 10 单：每单减 ¥5.00; 满 25 单：每单减 ¥15.50" in detail and "取消并全额退款" in detail

    # Each problem in the owner's language, the form keeping what was typed.
    problems = [
        ({"kind": "threshold", "tier_orders_0": "25", "tier_off_0": "15", "tier_orders_1": "10", "tier_off_1": "20"}, "每一档的单数和优惠都必须高于上一档。"),
        ({"kind": "threshold", "tier_orders_0": "25", "tier_off_0": "15块"}, "请以元为单位填写优惠金额，最多两位小数，例如 15 或 2.50。"),
        ({"kind": "group_buy", "team_size": "1"}, "成团人数为 2 到 50 人。"),
        ({"kind": "presale"}, "预售需承诺送达或自提日期。"),
        ({"kind": "live", "ends_at": start}, "结束时间必须晚于开始时间。"),
        ({"kind": "live", "title": "  "}, "活动标题为 1 到 60 个字符。"),
    ]
    for fields, message in problems:
        r = _create(c, mid, **{**common, "title": "错误示范", **fields})
        assert r.status_code == 422, fields
        assert errors(r.text) == [message]
    assert 'value="错误示范"' in _create(c, mid, **{**common, "title": "错误示范", "kind": "presale"}).text
    with db.transaction() as s:
        assert len(list(s.scalars(select(Campaign).where(Campaign.merchant_id == mid)))) == 5  # nothing half-written

    # The desk has a campaigns tab, and the merchant page a campaigns section.
    assert f'href="/console/merchants/{mid}/campaigns" aria-current="page">营销活动' in html
    home = c.get(f"/console/merchants/{mid}", headers=HTML).text
    assert 'id="campaigns"' in home and "草莓live" in home and "管理活动" in home


def test_offers_are_added_in_yuan_and_the_live_board_shows_quota_and_leader_codes(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    camp = create_campaign(client, shop, "live", clock.current)
    c = _console(client.app, shop.merchant_id)
    url = f"/console/merchants/{shop.merchant_id}/campaigns/{camp['id']}"
    detail = c.get(url, headers=HTML).text
    assert "黄金奶油草莓 · 1盒 (¥68.00)" in detail and "邻居0001 · 云顶华府" in detail and "翠苑一区" in detail
    form = {"csrf_token": csrf(c), "sku_id": str(shop.skus["berry"]), "quota": "3", "limit_per_member": "2", "community_id": str(shop.community_id), "leader_id": str(shop.leader_id), "label": "云顶华府专享"}
    r = c.post(f"{url}/offers", data={**form, "price": "80"}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["活动价必须大于 0，且不高于原价。"]
    assert 'value="云顶华府专享"' in r.text
    r = c.post(f"{url}/offers", data={**form, "price": "58"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    with db.transaction() as s:
        o = s.scalars(select(Offer).where(Offer.campaign_id == camp["id"])).one()
        assert (o.price, o.quota, o.limit_per_member, o.community_id, o.leader_id, o.label) == (5800, 3, 2, shop.community_id, shop.leader_id, "云顶华府专享")

    # A neighbour comes in through the leader's code and buys 1.
    code = leader_code(client, shop, camp["id"])
    buyer = resident(client, NEIGHBOUR, shop.community_id)
    assert client.post(f"/api/v1/campaigns/{camp['id']}/enter", json={"invite_code": code}, headers=buyer).status_code == 200
    assert buy(client, db, buyer, shop, [(shop.skus["berry"], 1)], campaign_id=camp["id"])["status"] == "paid"

    detail = c.get(url, headers=HTML).text
    assert "云顶华府 的邻居" in detail and "通过 邻居0001 的专属码" in detail
    assert f'hx-get="{url}/board" hx-trigger="every 5s"' in detail
    board = c.get(f"{url}/board", headers={**HTML, "HX-Request": "true"})
    assert board.status_code == 200 and board.text.lstrip().startswith('<section class="card board" id="board"')
    assert _testid(board.text, "board-paid") == "1" and _testid(board.text, "board-gmv") == "¥58.00" and _testid(board.text, "board-entries") == "1"
    assert _testid(board.text, "quota-left") == "2"
    assert _all(board.text, "board-code") == [f"{code} 邻居0001 1 1 ¥58.00"]
    # Members are not staff: no board for them.
    assert _browser(client.app).get(f"{url}/board", headers=HTML, follow_redirects=False).status_code == 303


# --- member H5 -----------------------------------------------------------------------------------------


def _live_with_offers(client, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    camp = create_campaign(client, shop, "live", clock.current, title="春日尝鲜·黄金奶油草莓")
    add_offer(client, shop, camp["id"], sku_id=shop.skus["berry"], price=5800, quota=3, community_id=shop.community_id, leader_id=shop.leader_id, label="云顶华府专享")
    add_offer(client, shop, camp["id"], sku_id=shop.skus["apple"], price=1990)
    return cs, camp


def test_campaign_page_shows_prices_quota_eligibility_and_records_the_code(client, db, merchant, clock):
    cs, camp = _live_with_offers(client, merchant, clock)
    shop = cs.shop
    code = leader_code(client, shop, camp["id"])
    url = f"/m/campaigns/{camp['id']}?code={code}"

    # A visitor sees who invites them, the prices, and logs in to come back here.
    visitor = _browser(client.app)
    r = visitor.get(url, headers=HTML)
    assert r.status_code == 200
    assert _testid(r.text, "inviter") == "由 邻居0001 邀请" and _testid(r.text, "phase") == "进行中"
    assert _testid(r.text, "countdown") == "03:00:00"
    assert _all(r.text, "offer-price") == ["¥58.00", "¥19.90"] and _all(r.text, "list-price") == ["¥68.00", "¥29.90"]
    login = re.search(r'href="(/m/login\?next=[^"]+)" data-testid="campaign-login"', r.text).group(1)
    assert unquote(login.split("next=")[1]) == url
    assert 'data-testid="buy"' not in r.text and "登录后购买" in r.text

    # The neighbour logs in and comes back: the entry is recorded with the code.
    with db.transaction() as s:
        assert s.scalars(select(CampaignEntry)).first() is None
    resident(client, NEIGHBOUR, shop.community_id)
    page_login(visitor, NEIGHBOUR)
    r = visitor.get(url, headers=HTML)
    assert _testid(r.text, "inviter") == "由 邻居0001 邀请"
    assert _all(r.text, "offer-left") == ["仅剩 3 件"]
    assert 'data-testid="offer-hint"' not in r.text
    buys = re.findall(r'href="([^"]+)" data-testid="buy"', r.text)
    assert buys == [f"/m/checkout?sku={shop.skus['berry']}&amp;qty=1&amp;campaign={camp['id']}", f"/m/checkout?sku={shop.skus['apple']}&amp;qty=1&amp;campaign={camp['id']}"]
    with db.transaction() as s:
        entry = s.scalars(select(CampaignEntry)).one()
        assert (entry.invite_code, entry.code_owner_id) == (code, shop.leader_id)
    # Checkout shows the campaign price.
    assert "¥58.00" in visitor.get(buys[0].replace("&amp;", "&"), headers=HTML).text

    # Another community's neighbour, and a neighbour who came without the code, are told why.
    outsider = _browser(client.app)
    resident(client, OUTSIDER, cs.other_community_id)
    page_login(outsider, OUTSIDER)
    r = outsider.get(url, headers=HTML)
    assert _all(r.text, "offer-hint") == ["仅限云顶华府邻居"]
    no_code = _browser(client.app)
    resident(client, NO_CODE, shop.community_id)
    page_login(no_code, NO_CODE)
    r = no_code.get(f"/m/campaigns/{camp['id']}", headers=HTML)
    assert _all(r.text, "offer-hint") == ["需通过团长邻居0001的邀请进入"] and 'data-testid="inviter"' not in r.text
    assert len(re.findall('data-testid="buy"', r.text)) == 1  # the open offer only

    # A code that is not valid is said gently; the page still works.
    r = no_code.get(f"/m/campaigns/{camp['id']}?code=NOPE1234", headers=HTML)
    assert r.status_code == 200 and _testid(r.text, "campaign-notice") == "这个邀请链接无效或已过期，请让好友重新分享一个。"
    with db.transaction() as s:
        assert {e.invite_code for e in s.scalars(select(CampaignEntry))} == {code, None}

    # The shop page lists the running campaign (loaded into the page by htmx).
    shop_page = visitor.get(f"/m/shop/{shop.merchant_id}", headers=HTML).text
    assert f'hx-get="/m/shop/{shop.merchant_id}/campaigns" hx-trigger="load"' in shop_page
    strip = visitor.get(f"/m/shop/{shop.merchant_id}/campaigns", headers={**HTML, "HX-Request": "true"}).text
    assert re.search(rf'href="/m/campaigns/{camp["id"]}" data-testid="shop-campaign">直播场次 · 春日尝鲜·黄金奶油草莓<', strip)


def test_threshold_progress_team_and_presale_pages(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    th = create_campaign(client, shop, "threshold", clock.current, tiers=[[2, 500], [4, 1500]], miss_policy="proceed")
    add_offer(client, shop, th["id"], sku_id=shop.skus["berry"], price=6000)
    first = resident(client, NEIGHBOUR, shop.community_id)
    assert buy(client, db, first, shop, [(shop.skus["berry"], 1)], campaign_id=th["id"])["status"] == "grouping"
    second = _browser(client.app)
    resident(client, NO_CODE, shop.community_id)
    page_login(second, NO_CODE)
    r = second.get(f"/m/campaigns/{th['id']}", headers=HTML)
    assert _testid(r.text, "threshold-done") == "本小区已有1位邻居下单"
    assert _testid(r.text, "threshold-next") == "再有1单每人再减5.00元"
    assert "小区满 2 单：每单减 ¥5.00" in r.text

    team = create_campaign(client, shop, "group_buy", clock.current, team_size=3, team_hours=24, team_variant="leader_free")
    add_offer(client, shop, team["id"], sku_id=shop.skus["berry"], price=4990)
    r = second.get(f"/m/campaigns/{team['id']}", headers=HTML)
    assert "3 人团" in r.text and "团长免单" in r.text
    assert re.search(rf'href="/m/checkout\?sku={shop.skus["berry"]}&amp;qty=1&amp;campaign={team["id"]}" data-testid="buy">开团<', r.text)

    promised = (clock.current + timedelta(days=1)).date()
    pre = create_campaign(client, shop, "presale", clock.current - timedelta(hours=1), hours=12, promised_date=promised.isoformat(), promised_note="明早9点前送达")
    add_offer(client, shop, pre["id"], sku_id=shop.skus["apple"], price=2500)
    r = second.get(f"/m/campaigns/{pre['id']}", headers=HTML)
    presale = " ".join(re.sub(r"<[^>]+>", " ", re.search(r'data-testid="presale">(.*?)</section>', r.text, re.S).group(1)).split())
    assert presale == f"截单时间：2026-11-22 21:00 预计 {promised.isoformat()} 送达或自提 · 明早9点前送达"
    assert "距截单" in r.text and _testid(r.text, "countdown") == "11:00:00"

    # Not started yet: the button waits.
    later = create_campaign(client, shop, "flash_sale", clock.current, starts_in=timedelta(days=1, hours=2), hours=1)
    add_offer(client, shop, later["id"], sku_id=shop.skus["apple"], price=990, quota=10)
    r = second.get(f"/m/campaigns/{later['id']}", headers=HTML)
    assert _testid(r.text, "phase") == "即将开始" and _testid(r.text, "countdown") == "1 天 02:00:00"
    assert 'data-testid="buy"' not in r.text and "即将开始" in r.text
    assert "/static/js/countdown.js" in r.text and "<script>" not in r.text


# --- the leader's kit --------------------------------------------------------------------------------


def test_leader_kit_has_code_link_copy_and_a_poster_whose_qr_is_the_link(client, db, merchant, clock):
    import zxingcpp
    from PIL import Image

    cs, camp = _live_with_offers(client, merchant, clock)
    shop = cs.shop
    with db.transaction() as s:
        s.get(Campaign, camp["id"]).kit_copy = "今晚8点，草莓直播！"
    leader = _browser(client.app)
    page_login(leader, LEADER)
    assert 'data-testid="kit-link"' in leader.get(f"/m/campaigns/{camp['id']}", headers=HTML).text
    r = leader.get(f"/m/campaigns/{camp['id']}/kit", headers=HTML)
    assert r.status_code == 200
    code = _testid(r.text, "kit-code")
    assert code == leader_code(client, shop, camp["id"])
    link = f"http://testserver/m/campaigns/{camp['id']}?code={code}"
    assert re.search(rf'value="{re.escape(link)}" readonly data-testid="kit-link"', r.text)
    assert _testid(r.text, "kit-copy") == f"今晚8点，草莓直播！\n{link}"
    assert 'data-copy="#kit-link"' in r.text and 'data-copy="#kit-copy"' in r.text and "/static/js/copy.js" in r.text
    assert f'src="/m/campaigns/{camp["id"]}/kit/poster.png"' in r.text

    png = leader.get(f"/m/campaigns/{camp['id']}/kit/poster.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(png.content))
    assert img.size == (750, 1334)
    assert [d.text for d in zxingcpp.read_barcodes(img)] == [link]

    # A neighbour who is not a leader gets a clear refusal, and no poster.
    member = _browser(client.app)
    page_login(member, NEIGHBOUR)
    r = member.get(f"/m/campaigns/{camp['id']}/kit", headers=HTML)
    assert r.status_code == 403 and "活动专属码仅限本店的团长使用。" in r.text and 'data-testid="kit-refused"' in r.text
    assert 'data-testid="kit-code"' not in r.text
    assert member.get(f"/m/campaigns/{camp['id']}/kit/poster.png").status_code == 403
    # Logged out: the kit asks for a login first.
    r = _browser(client.app).get(f"/m/campaigns/{camp['id']}/kit", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/m/login?next=")
