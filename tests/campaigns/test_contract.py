"""Creating campaigns with the body API.md documents (``name``, ``items``, live ``offers``
with a ``leader_code``, ``time_limit_hours``, ``leader_free``, ``tiers: [{min_orders,
discount}]``, ``on_miss``, ``cutoff_at``, ``promised_at``), all or nothing; bad times are
a 422, never a 500."""

from __future__ import annotations

from datetime import timedelta

from tests.campaigns.helpers import campaign_shop, leader_code, resident
from tests.conftest import problem_code
from tests.orders.helpers import order


def _post(client, shop, body):
    return client.post(f"/api/v1/merchants/{shop.merchant_id}/campaigns", json=body, headers=shop.owner)


def _window(clock, hours=3):
    return {"starts_at": clock.current.isoformat(), "ends_at": (clock.current + timedelta(hours=hours)).isoformat()}


def test_every_kind_in_the_documented_shape(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    personal = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=shop.leader).json()["code"]
    live = _post(client, shop, {"kind": "live", "name": "草莓直播", **_window(clock), "items": [{"sku_id": shop.skus["berry"], "price": 6500}],
                                "offers": [{"community_id": shop.community_id, "leader_code": personal, "sku_id": shop.skus["berry"], "price": 5800, "quota": 100, "limit_per_member": 2}]})
    assert live.status_code == 201, live.text
    body = live.json()
    assert body["kind"] == "live" and body["name"] == "草莓直播"
    offers = sorted(body["offers"], key=lambda o: o["price"])
    assert [(o["price"], o["quota"], o["community_id"], o["leader_id"]) for o in offers] == [(5800, 100, shop.community_id, shop.leader_id), (6500, None, None, None)]
    # A neighbour who came through the leader's code gets the community price.
    buyer = resident(client, "13700000501", shop.community_id)
    client.post(f"/api/v1/campaigns/{body['id']}/enter", json={"invite_code": leader_code(client, shop, body["id"])}, headers=buyer)
    assert order(client, buyer, shop, [(shop.skus["berry"], 1)], campaign_id=body["id"]).json()["payable"] == 5800

    team = _post(client, shop, {"kind": "group_buy", "name": "三人团", **_window(clock), "items": [{"sku_id": shop.skus["apple"], "price": 1990, "limit_per_member": 1}],
                                "team_size": 3, "time_limit_hours": 12, "leader_free": True})
    assert team.status_code == 201, team.text
    assert (team.json()["kind"], team.json()["team_size"], team.json()["team_hours"], team.json()["team_variant"]) == ("group_buy", 3, 12, "leader_free")

    thr = _post(client, shop, {"kind": "threshold", "name": "满25单减15元", **_window(clock, 48), "items": [{"sku_id": shop.skus["berry"], "price": 6000}],
                               "tiers": [{"min_orders": 10, "discount": 500}, {"min_orders": 25, "discount": 1500}], "on_miss": "cancel"})
    assert thr.status_code == 201, thr.text
    assert thr.json()["tiers"] == [[10, 500], [25, 1500]] and thr.json()["miss_policy"] == "cancel"

    flash = _post(client, shop, {"kind": "flash_sale", "name": "整点秒杀", **_window(clock), "items": [{"sku_id": shop.skus["berry2"], "price": 9900, "stock": 50, "limit_per_member": 1}]})
    assert flash.status_code == 201 and flash.json()["offers"][0]["quota"] == 50

    cutoff = clock.current + timedelta(hours=10)
    pre = _post(client, shop, {"kind": "presale", "name": "今晚订明早达", "starts_at": clock.current.isoformat(), "cutoff_at": cutoff.isoformat(),
                               "promised_at": (cutoff + timedelta(hours=12)).isoformat(), "items": [{"sku_id": shop.skus["apple"], "price": 2500}]})
    assert pre.status_code == 201, pre.text
    assert pre.json()["cutoff_at"].startswith(cutoff.strftime("%Y-%m-%dT%H:%M")) and pre.json()["promised_date"] == (cutoff + timedelta(hours=12 + 8)).date().isoformat()


def test_bad_bodies_are_refused_and_nothing_is_written(client, db, merchant, clock):
    shop = campaign_shop(client, merchant).shop
    bad = [
        ({"kind": "live", "name": "直播", "starts_at": "2026-11-22T02:00:00", "ends_at": "2026-11-22T05:00:00"}, "validation.invalid"),
        ({"kind": "live", "name": "直播", "starts_at": "0001-01-01T00:00:00+14:00", "ends_at": "2026-11-22T05:00:00+00:00"}, "campaign.window_invalid"),
        ({"kind": "presale", "name": "预售", "starts_at": clock.current.isoformat()}, "campaign.window_invalid"),
        ({"kind": "live", "name": "直播", **_window(clock), "items": [{"sku_id": shop.skus["berry"], "price": 99999}]}, "campaign.price_invalid"),
        ({"kind": "live", "name": "直播", **_window(clock), "offers": [{"sku_id": shop.skus["berry"], "price": 5000, "leader_code": "NOPE1234"}]}, "invite.code_unknown"),
        ({"kind": "group_buy", "name": "拼团", **_window(clock), "team_size": 51}, "validation.invalid"),
    ]
    for body, code in bad:
        r = _post(client, shop, body)
        assert 400 <= r.status_code < 500 and problem_code(r) == code, (body, r.text)
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/campaigns", headers=shop.owner).json() == []
