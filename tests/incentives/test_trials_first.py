"""社区推荐官's first access to trials, end to end on SQLite and PostgreSQL: incentives answers
campaigns' ``early_access`` port from its badges, so the inviter who earned the badge through
granted referrals enters and buys in a campaign's early-access minutes, while a neighbour
without it sees the countdown and gets ``campaign.not_started``."""

from __future__ import annotations

from datetime import timedelta

from tests.campaigns.helpers import add_offer, create_campaign
from tests.conftest import login, problem_code
from tests.incentives.helpers import _complete, first_order, friend, setup
from tests.incentives.test_badges import configure, held
from tests.orders.helpers import order


def test_a_recommender_buys_in_the_early_window_and_a_neighbour_waits(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    configure(client, p, recommender_referrals=2)
    for i in range(2):
        first_order(client, db, p, friend(client, db, p, i))
    _complete(db, clock)
    assert "recommender" in held(client, p, p.inviter)
    c = create_campaign(client, p.shop, "live", clock.current, starts_in=timedelta(hours=1), early_access_minutes=60, title="新品试吃·草莓")
    add_offer(client, p.shop, c["id"], sku_id=p.shop.skus["berry"], price=5800, quota=5)
    neighbour = login(client, "13900000123")
    mine = client.get(f"/api/v1/campaigns/{c['id']}", headers=p.inviter).json()
    assert (mine["phase"], mine["early_access"]) == ("live", True)
    theirs = client.get(f"/api/v1/campaigns/{c['id']}", headers=neighbour).json()
    assert (theirs["phase"], theirs["early_access"]) == ("upcoming", False)
    berry = [(p.shop.skus["berry"], 1)]
    assert order(client, p.inviter, p.shop, berry, campaign_id=c["id"]).status_code == 201
    r = order(client, neighbour, p.shop, berry, campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.not_started"


def test_a_suspended_recommender_keeps_the_badge_but_not_its_privileges_until_reinstated(client, db, merchant, clock):
    from linli import events
    from tests.incentives.helpers import INVITER
    from tests.incentives.test_badges import mine

    p = setup(client, merchant, clock)
    configure(client, p, recommender_referrals=1, group_name="推荐官交流群", group_link="https://example.com/join", group_text="扫码入群")
    first_order(client, db, p, friend(client, db, p, 0))
    _complete(db, clock)
    desk = f"/api/v1/merchants/{p.shop.merchant_id}/sharers"
    assert client.post(desk, json={"phone": INVITER}, headers=p.shop.owner).status_code == 201
    c = create_campaign(client, p.shop, "live", clock.current, starts_in=timedelta(minutes=30), early_access_minutes=60)
    code_url = "/api/v1/me/badges/campaign-code"
    params = {"merchant_id": p.shop.merchant_id, "campaign_id": c["id"]}
    assert client.get(f"/api/v1/campaigns/{c['id']}", headers=p.inviter).json()["early_access"] is True
    assert mine(client, p, p.inviter)["group"] is not None and client.get(code_url, params=params, headers=p.inviter).status_code == 200
    assert client.post(f"{desk}/{p.inviter_id}/suspend", json={"note": "刷单嫌疑"}, headers=p.shop.owner).status_code == 200
    events.drain(db)
    assert "recommender" in held(client, p, p.inviter)  # the badge stays: the facts behind it did not change
    assert client.get(f"/api/v1/campaigns/{c['id']}", headers=p.inviter).json()["early_access"] is False
    assert mine(client, p, p.inviter)["group"] is None
    r = client.get(code_url, params=params, headers=p.inviter)
    assert r.status_code == 403 and problem_code(r) == "badge.privileges_on_hold"
    assert client.post(f"{desk}/{p.inviter_id}/reinstate", headers=p.shop.owner).status_code == 200
    events.drain(db)
    assert client.get(f"/api/v1/campaigns/{c['id']}", headers=p.inviter).json()["early_access"] is True
    assert mine(client, p, p.inviter)["group"] is not None
