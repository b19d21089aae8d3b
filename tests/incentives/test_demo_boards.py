"""The demo's leaderboards through the API: this week's board has several sharers with a tie
(the one who got there first listed first), last week's honour (周度分享之星) is frozen, the
rebuild finds no difference, and seeding again adds nothing."""

from __future__ import annotations

from collections import Counter

from linli import demo
from linli.incentives import board_rebuild
from tests.incentives.board_helpers import board, rollup


def test_the_demo_has_this_week_s_board_with_a_tie_and_last_week_s_honour(demo_world):
    client, db, clock, info = demo_world.client, demo_world.db, demo_world.clock, demo_world.info
    mid = info.merchant_id
    week = board(client, mid, period="week", metric="gmv")
    entries = week["entries"]
    assert len(entries) >= 4
    shared = [rank for rank, n in Counter(e["rank"] for e in entries).items() if n > 1]
    assert shared, entries  # a tie
    tied = [e for e in entries if e["rank"] == shared[0]]
    assert {e["name"] for e in tied} >= {"程序员老刘", "甜甜"} and tied[0]["name"] == "程序员老刘"  # got there first
    assert all("****" in e["phone_masked"] for e in entries)
    r = client.get(f"/api/v1/merchants/{mid}/honours", params={"period": "week"})
    assert r.status_code == 200, r.text
    honour = r.json()
    assert honour["title"] == "周度分享之星"
    assert any(x["entries"] for x in honour["boards"])
    assert board_rebuild.rebuild(db, clock()) == 0
    before = rollup(db)
    demo.seed(db, clock.current)
    assert rollup(db) == before
