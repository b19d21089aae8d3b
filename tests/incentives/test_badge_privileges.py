"""The privileges of 社区推荐官 on SQLite and PostgreSQL, each usable by a holder and refused to
anyone else: a leader's code for a campaign (the per-campaign code commission pays the
leader's share on, so for a holder who is an active sharer), the merchant's recommender
group, and ``holds`` for first access to trials."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from linli import events
from linli.incentives import badges
from linli.referral import service as referral
from tests.campaigns.helpers import add_offer, create_campaign
from tests.conftest import login, problem_code
from tests.incentives.helpers import INVITER, _complete, first_order, friend, setup
from tests.incentives.test_badges import configure, mine
from tests.orders.helpers import buy
from tests.web.conftest import HTML, page_login

GROUP = {"group_name": "云顶华府推荐官群", "group_link": "https://work.weixin.qq.com/gm/linli-demo", "group_text": "扫码入群，备注“推荐官”"}


def _code(client, p, who, campaign_id):
    return client.get("/api/v1/me/badges/campaign-code", params={"merchant_id": p.shop.merchant_id, "campaign_id": campaign_id}, headers=who)


def test_a_recommender_gets_a_campaign_code_and_the_group_and_others_are_refused(client, db, merchant, clock, app):
    p = setup(client, merchant, clock)
    configure(client, p, recommender_referrals=1, **GROUP)
    f = friend(client, db, p, 1)
    first_order(client, db, p, f)
    live = create_campaign(client, p.shop, "live", clock() + timedelta(days=7), starts_in=timedelta(hours=2), title="周五草莓直播")
    r = _code(client, p, p.inviter, live["id"])
    assert r.status_code == 403 and problem_code(r) == "badge.recommender_only"  # not a recommender yet: the referral is pending
    assert mine(client, p, p.inviter)["group"] is None
    _complete(db, clock)  # a week on: the referral is granted
    # A recommender, not a sharer: a campaign code would pay them nothing, so none yet.
    r = _code(client, p, p.inviter, live["id"])
    assert r.status_code == 403 and problem_code(r) == "badge.sharer_required"
    assert client.post(f"/api/v1/merchants/{p.shop.merchant_id}/sharers", json={"phone": INVITER}, headers=p.shop.owner).status_code == 201
    events.drain(db)
    clock_now = clock()
    # The holder: a campaign code, the same each time, and it names them as the campaign's leader.
    r = _code(client, p, p.inviter, live["id"])
    assert r.status_code == 200, r.text
    code = r.json()["code"]
    assert r.json()["link"].endswith(f"/m/campaigns/{live['id']}?code={code}")
    assert _code(client, p, p.inviter, live["id"]).json()["code"] == code
    friend_id = client.get("/api/v1/me", headers=f).json()["id"]
    with db.transaction() as s:
        assert referral.campaign_leader(s, p.shop.merchant_id, code, live["id"]) == p.inviter_id
        assert referral.campaign_leader(s, p.shop.merchant_id, code, None) is None  # a per-campaign code: nothing outside it
        assert referral.my_code(s, p.inviter_id, p.shop.merchant_id, clock_now).code != code  # not their personal code
        assert badges.holds(s, p.shop.merchant_id, p.inviter_id, "recommender")
        assert not badges.holds(s, p.shop.merchant_id, friend_id, "recommender")
        assert not badges.holds(s, p.shop.merchant_id + 1, p.inviter_id, "recommender")  # per merchant
    # A neighbour who orders in the live session through it earns the holder the leader's share (level 0).
    add_offer(client, p.shop, live["id"], sku_id=p.shop.skus["apple"], price=1000, quota=10)
    clock.current = datetime.fromisoformat(live["starts_at"].replace("Z", "+00:00")) + timedelta(minutes=1)
    neighbour = login(client, "13500000555")
    o = buy(client, db, neighbour, p.shop, [(p.shop.skus["apple"], 1)], invite_code=code, campaign_id=live["id"])
    earned = client.get("/api/v1/me/earnings", params={"merchant_id": p.shop.merchant_id}, headers=p.inviter).json()["records"]
    assert [(r["order_id"], r["level"], r["rate_bp"]) for r in earned if r["order_id"] == o["id"]] == [(o["id"], 0, 1500)]
    assert mine(client, p, p.inviter)["group"] == {"name": GROUP["group_name"], "link": GROUP["group_link"], "text": GROUP["group_text"]}
    # The friend brought nobody: neither the code nor the group.
    r = _code(client, p, f, live["id"])
    assert r.status_code == 403 and problem_code(r) == "badge.recommender_only"
    assert mine(client, p, f)["group"] is None
    # Not a campaign of this shop, or one that has ended.
    assert problem_code(_code(client, p, p.inviter, 999_999)) == "campaign.not_found"
    short = create_campaign(client, p.shop, "live", clock(), hours=1, title="一小时快闪")
    clock.advance(hours=2)
    r = _code(client, p, p.inviter, short["id"])
    assert r.status_code == 409 and problem_code(r) == "badge.campaign_ended"
    # The same through the sharer centre: the holder's page shows the code; the friend's says why not.
    holder = TestClient(app, raise_server_exceptions=False)
    page_login(holder, INVITER)
    html = holder.get(f"/m/share/{p.shop.merchant_id}", headers=HTML).text
    assert 'data-testid="badges"' in html and 'data-testid="badge-held" data-badge="recommender"' in html and "社区推荐官" in html
    assert 'data-testid="privileges"' in html and GROUP["group_name"] in html and GROUP["group_link"] in html
    assert f"/m/share/{p.shop.merchant_id}/recommender/campaigns/{live['id']}" in html and "周五草莓直播" in html
    r = holder.get(f"/m/share/{p.shop.merchant_id}/recommender/campaigns/{live['id']}", headers=HTML)
    assert r.status_code == 200 and f'data-testid="campaign-code">{code}<' in r.text
    other = TestClient(app, raise_server_exceptions=False)
    page_login(other, "13500000001")
    html = other.get(f"/m/share/{p.shop.merchant_id}", headers=HTML).text
    assert 'data-testid="privileges-locked"' in html and GROUP["group_link"] not in html
    r = other.get(f"/m/share/{p.shop.merchant_id}/recommender/campaigns/{live['id']}", headers=HTML)
    assert r.status_code == 403 and 'data-testid="code-refused"' in r.text and "社区推荐官" in r.text
    # The console lists the holders, phones masked.
    console = TestClient(app, raise_server_exceptions=False)
    page_login(console, merchant.owner_phone, "console")
    html = console.get(f"/console/merchants/{p.shop.merchant_id}/badges?badge=recommender", headers=HTML).text
    assert html.count('data-testid="holder"') == 1 and "136****0001" in html and INVITER not in html
