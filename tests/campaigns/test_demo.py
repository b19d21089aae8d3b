"""The demo's campaigns, as an operator and a neighbour see them through the API."""

from __future__ import annotations

from sqlalchemy import select

from linli import demo
from linli.campaigns.models import Campaign, Team
from tests.conftest import login


def test_demo_seeds_the_strawberry_session_a_team_and_a_threshold_part_way(demo_world):
    client, db, clock, info = demo_world.client, demo_world.db, demo_world.clock, demo_world.info
    owner = login(client, demo.OWNER_PHONE)
    mid = info.merchant_id
    listed = {c["kind"]: c for c in client.get(f"/api/v1/merchants/{mid}/campaigns", headers=owner).json()}
    assert set(listed) == {"live", "group_buy", "threshold", "flash_sale", "presale"}
    live = listed["live"]
    board = client.get(f"/api/v1/merchants/{mid}/campaigns/{live['id']}/board", headers=owner).json()
    xiaoli = [r for r in board["by_code"] if r["nickname"] == "小李"]
    assert board["paid_orders"] == 15 and board["entries"] == 15  # 10 through 小李 or on their own, 5 through the sharers' links
    assert xiaoli and xiaoli[0]["orders"] == 8 and xiaoli[0]["entries"] == 8
    community_offer = next(o for o in board["offers"] if o["quota"] == 100)
    assert community_offer["price"] == 6800 and community_offer["left"] == 100 - community_offer["sold"] and community_offer["sold"] == 12
    # The room's sharer board: 阿芳 leads, 豆豆妈 and 健身小王 share second place.
    sharers = client.get(f"/api/v1/campaigns/{live['id']}/sharer-board").json()["entries"]
    assert [(e["rank"], e["name"], e["phone_masked"], e["orders"], e["gmv"]) for e in sharers] == [
        (1, "阿芳", "137****0041", 2, 4 * 7800), (2, "豆豆妈", "137****0042", 1, 2 * 7800), (2, "健身小王", "137****0043", 2, 2 * 7800),
    ]
        # A neighbour of 云顶华府 sees the threshold's progress: 12 orders, 13 to the next tier.
    neighbour = login(client, "13700000060")
    progress = client.get(f"/api/v1/campaigns/{listed['threshold']['id']}", headers=neighbour).json()["progress"]
    assert progress["orders"] == 12 and progress["tier"] == [10, 500] and progress["next_tier"] == [25, 1500] and progress["orders_to_next"] == 13
    with db.transaction() as s:
        teams = s.scalars(select(Team).where(Team.campaign_id == listed["group_buy"]["id"]).order_by(Team.id)).all()
        assert [(t.status, t.paid_count, t.size) for t in teams] == [("succeeded", 3, 3), ("forming", 2, 3)]
    team = client.get(f"/api/v1/teams/{teams[1].id}").json()
    assert team["status"] == "forming" and len(team["members"]) == 2
    assert listed["presale"]["promised_date"] is not None
    # Seeding again adds nothing.
    demo.seed(db, clock.current)
    with db.transaction() as s:
        assert len(s.scalars(select(Campaign).where(Campaign.merchant_id == mid)).all()) == 5
