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
