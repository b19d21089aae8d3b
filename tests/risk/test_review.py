"""Independent review of the risk-control change (issue 14): the bugs it found, each pinned
by the test that failed before its fix."""

from __future__ import annotations

from linli import events
from linli.orders import service as orders
from tests.orders.helpers import buy, make_shop
from tests.risk.test_cases import API, appoint, invitee, open_cases


def test_campaign_rebates_and_failed_teams_do_not_count_towards_a_sharers_refund_rate(client, db, merchant, clock):
    """A 社区成团 tier reached gives every order in the community money back at close, a
    group-buy team that fails refunds its orders: the system's refunds, not the buyers'. They
    must not put an honest sharer's commission on hold as a 'refund rate over 30%'."""
    shop = make_shop(client, merchant)
    s_h, s_id, code = appoint(client, merchant, "13700000001", "phone-of-s-0001")
    made = []
    for n in range(2, 7):  # five attributed orders
        h = invitee(client, db, merchant, f"137000000{n:02d}", f"own-phone-{n:04d}", code)
        made.append(buy(client, db, h, shop, [(shop.skus["apple"], 1)]))
        clock.advance(hours=2)
    with db.transaction() as s:
        for o in made[:3]:  # a threshold tier reached: 100 fen back on each order
            assert orders.system_refund(s, o["id"], 100, "threshold_rebate", clock(), keep_order=True) is not None
        assert orders.system_refund(s, made[3]["id"], None, "team_failed", clock()) is not None
    events.drain(db)
    assert open_cases(client, merchant) == []
    r = client.get(f"{API}/me/earnings", params={"merchant_id": merchant.id}, headers=s_h).json()
    assert r["hold_reason"] is None
