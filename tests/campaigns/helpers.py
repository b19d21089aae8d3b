"""Campaign fixtures: a shop with two communities, a leader with a campaign code, and
campaigns created through the console API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tests.conftest import login
from tests.orders.helpers import Shop, make_shop


@dataclass
class CampaignShop:
    shop: Shop
    other_community_id: int
    other_point_id: int


def campaign_shop(client, merchant, *, stock: int = 1000) -> CampaignShop:
    shop = make_shop(client, merchant, stock=stock)
    h, mid = merchant.owner, merchant.id
    c = client.post(f"/api/v1/merchants/{mid}/communities", json={"name": "翠苑一区", "city": "杭州", "lat": 30.2841, "lng": 120.1301}, headers=h).json()
    p = client.post(f"/api/v1/merchants/{mid}/communities/{c['id']}/pickup-points", json={"name": "北门超市", "address": "北门 1 号", "lat": 30.2842, "lng": 120.1302}, headers=h).json()
    return CampaignShop(shop, c["id"], p["id"])


def iso(t: datetime) -> str:
    return t.isoformat()


def create_campaign(client, shop: Shop, kind: str, now: datetime, *, starts_in: timedelta = timedelta(0), hours: int = 3, **extra) -> dict:
    body = {"kind": kind, "title": extra.pop("title", "春日尝鲜·黄金奶油草莓"), "starts_at": iso(now + starts_in), "ends_at": iso(now + starts_in + timedelta(hours=hours)), **extra}
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/campaigns", json=body, headers=shop.owner)
    assert r.status_code == 201, r.text
    return r.json()


def add_offer(client, shop: Shop, campaign_id: int, **body) -> dict:
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/campaigns/{campaign_id}/offers", json=body, headers=shop.owner)
    assert r.status_code == 201, r.text
    return r.json()


def resident(client, phone: str, community_id: int) -> dict:
    """A member who lives in ``community_id``."""
    h = login(client, phone)
    assert client.patch("/api/v1/me", json={"community_id": community_id}, headers=h).status_code == 200
    return h


def leader_code(client, shop: Shop, campaign_id: int) -> str:
    r = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id, "campaign_id": campaign_id}, headers=shop.leader)
    assert r.status_code == 200, r.text
    return r.json()["code"]
