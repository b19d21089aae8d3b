"""The sharing funnel (RULES.md: share → visit → order → paid → received): a sharer takes
their poster twice (the centre's preview of it once more: not a share), their link is opened
three times (once by a neighbour who then logs in through it), the neighbour places two
orders and pays one, which is picked up. Both databases."""

from __future__ import annotations

import csv
import io

from linli import events
from tests.conftest import login
from tests.orders.helpers import make_shop, order, pay
from tests.rewards.test_points import _receive
from tests.web.conftest import HTML

SHARER = "13600000009"


def test_the_funnel_counts_each_stage_for_the_sharer_who_brought_it(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    sharer = login(client, SHARER)
    sharer_id = client.get("/api/v1/me", headers=sharer).json()["id"]
    code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=sharer).json()["code"]
    product = client.get(f"/api/v1/merchants/{shop.merchant_id}/products", headers=shop.owner).json()[0]["id"]
    for params in ({}, {"product_id": product}, {"preview": "true"}, {"product_id": 999_999}):
        r = client.get("/api/v1/me/poster", params={"merchant_id": shop.merchant_id, **params}, headers=sharer)
        assert r.status_code == (404 if params.get("product_id") == 999_999 else 200), r.text  # the last: no such product, no poster, no share
    for _ in range(2):
        assert client.get(f"/i/{code}", headers=HTML).status_code == 200  # neighbours opening the link
    client.cookies.clear()
    buyer = login(client, "13500000001", invite_code=code)
    assert client.get(f"/i/{code}", headers={**HTML, **buyer}).status_code == 200  # the neighbour again, logged in
    events.drain(db)
    first = order(client, buyer, shop, [(shop.skus["berry"], 1)])
    assert first.status_code == 201
    paid = pay(client, db, buyer, first.json()["id"])
    assert order(client, buyer, shop, [(shop.skus["apple"], 1)]).status_code == 201  # placed, never paid
    _receive(client, db, shop, paid)
    events.drain(db)

    base = f"/api/v1/merchants/{shop.merchant_id}/analytics"
    f = client.get(f"{base}/funnel", params={"from": "2026-11-22", "to": "2026-11-22"}, headers=shop.owner).json()
    stages = ("shares", "visits", "orders", "paid", "received")
    assert [f["totals"][k] for k in stages] == [2, 3, 2, 1, 1]
    [row] = f["rows"]
    assert (row["id"], row["name"]) == (sharer_id, "136****0009") and [row[k] for k in stages] == [2, 3, 2, 1, 1]
    # Per campaign: none of it came through a campaign.
    assert client.get(f"{base}/funnel", params={"from": "2026-11-22", "to": "2026-11-22", "by": "campaign"}, headers=shop.owner).json()["rows"] == []
    # The day before: nothing.
    assert client.get(f"{base}/funnel", params={"from": "2026-11-21", "to": "2026-11-21"}, headers=shop.owner).json()["totals"]["visits"] == 0
    rows = list(csv.reader(io.StringIO(client.get(f"{base}/export", params={"from": "2026-11-22", "to": "2026-11-22", "report": "funnel"}, headers=shop.owner).content.decode("utf-8-sig"))))
    assert rows == [["sharer_id", "name", "shares", "visits", "orders", "paid", "received"], [str(sharer_id), "136****0009", "2", "3", "2", "1", "1"]]
    assert client.get(f"{base}/funnel", params={"by": "community"}, headers=shop.owner).status_code == 422
    assert client.get(f"{base}/funnel", headers=buyer).status_code == 404
