"""A shop with a community, a pickup point, a leader and products; buying through the API."""

from __future__ import annotations

from dataclasses import dataclass

from linli import events
from tests.conftest import login


@dataclass
class Shop:
    merchant_id: int
    owner: dict
    community_id: int
    point_id: int
    leader: dict
    leader_id: int
    skus: dict[str, int]


def make_shop(client, merchant, *, stock: int = 100, limit: int | None = None) -> Shop:
    h = merchant.owner
    mid = merchant.id
    c = client.post(f"/api/v1/merchants/{mid}/communities", json={"name": "云顶华府", "city": "杭州", "lat": 30.274085, "lng": 120.155070}, headers=h).json()
    p = client.post(f"/api/v1/merchants/{mid}/communities/{c['id']}/pickup-points", json={"name": "东门驿站", "address": "东门 3 号", "lat": 30.2748, "lng": 120.1556}, headers=h).json()
    leader = login(client, "13900000001")
    leader_id = client.get("/api/v1/me", headers=leader).json()["id"]
    assert client.put(f"/api/v1/merchants/{mid}/communities/{c['id']}/leader", json={"member_id": leader_id}, headers=h).status_code == 200
    body = {"name": "黄金奶油草莓", "category": "水果", "skus": [{"name": "1盒", "price": 6800, "stock": stock}, {"name": "2盒", "price": 12800, "stock": stock}]}
    if limit:
        body["limit_per_member"] = limit
    prod = client.post(f"/api/v1/merchants/{mid}/products", json=body, headers=h).json()
    apple = client.post(f"/api/v1/merchants/{mid}/products", json={"name": "阿克苏苹果", "category": "水果", "skus": [{"name": "5斤", "price": 2990, "stock": stock}]}, headers=h).json()
    skus = {"berry": prod["skus"][0]["id"], "berry2": prod["skus"][1]["id"], "apple": apple["skus"][0]["id"]}
    return Shop(mid, h, c["id"], p["id"], leader, leader_id, skus)


def order(client, buyer, shop: Shop, items, **extra):
    body = {"merchant_id": shop.merchant_id, "items": [{"sku_id": s, "qty": q} for s, q in items], "pickup_point_id": shop.point_id}
    body.update(extra)
    return client.post("/api/v1/orders", json=body, headers=buyer)


def pay(client, db, buyer, order_id: int) -> dict:
    """Pay through the sandbox: intent, buyer confirms, the signed callback is delivered."""
    r = client.post(f"/api/v1/orders/{order_id}/pay", headers=buyer)
    assert r.status_code == 200, r.text
    pid = r.json()["payment_id"]
    assert client.post(f"/api/v1/payments/sandbox/{pid}/complete", headers=buyer).status_code == 202
    events.drain(db)
    return client.get(f"/api/v1/orders/{order_id}", headers=buyer).json()


def buy(client, db, buyer, shop: Shop, items, **extra) -> dict:
    r = order(client, buyer, shop, items, **extra)
    assert r.status_code == 201, r.text
    return pay(client, db, buyer, r.json()["id"])
