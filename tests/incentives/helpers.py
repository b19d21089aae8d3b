"""A shop running 菜场老王's programme (the inviter gets a gift coupon for a SKU, the friend a
10%-off coupon, 3 friends → 500 points), an inviter with their code, and friends who join
through it and buy through the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from linli import events
from linli.incentives.models import ProgrammeReferral, ProgrammeReward
from linli.ledger import LedgerTransfer
from linli.rewards.models import Coupon
from tests.conftest import login
from tests.orders.helpers import Shop, buy, make_shop
from tests.rewards.test_points import _complete, _receive, _refund  # noqa: F401  (re-exported for the tests)

INVITER = "13600000001"


@dataclass
class Programme:
    shop: Shop
    id: int
    body: dict
    inviter: dict
    inviter_id: int
    code: str
    percent_template: int


def programme_body(shop: Shop, clock, percent_template: int, **over) -> dict:
    body = {
        "name": "邻里鸡蛋计划", "starts_at": (clock() - timedelta(days=1)).isoformat(), "ends_at": (clock() + timedelta(days=60)).isoformat(), "min_paid": 3000,
        "inviter_reward": {"kind": "gift", "sku_id": shop.skus["apple"]}, "invitee_reward": {"kind": "coupon", "template_id": percent_template},
        "milestones": [{"count": 3, "inviter_reward": {"kind": "points", "amount": 500}}],
    }
    body.update(over)
    return body


def setup(client, merchant, clock, **over) -> Programme:
    shop = make_shop(client, merchant, stock=2000)
    h = shop.owner
    t = client.post(f"/api/v1/merchants/{shop.merchant_id}/coupon-templates",
                    json={"name": "首单9折", "kind": "percent", "percent_bp": 1000, "total": 10000, "valid_days": 30, "claimable": False}, headers=h)
    assert t.status_code == 201, t.text
    body = programme_body(shop, clock, t.json()["id"], **over)
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/referral-programmes", json=body, headers=h)
    assert r.status_code == 201, r.text
    inviter = login(client, INVITER)
    inviter_id = client.get("/api/v1/me", headers=inviter).json()["id"]
    code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=inviter).json()["code"]
    return Programme(shop, r.json()["id"], body, inviter, inviter_id, code, t.json()["id"])


def friend(client, db, p: Programme, n: int) -> dict:
    """The n-th friend, joining through the inviter's link (bound as a new member)."""
    h = login(client, f"1350000{n:04d}", invite_code=p.code)
    events.drain(db)
    return h


def first_order(client, db, p: Programme, buyer, qty: int = 1) -> dict:
    """A berry order (6,800 fen a box) paid and received: the friend's first received order."""
    o = buy(client, db, buyer, p.shop, [(p.shop.skus["berry"], qty)])
    _receive(client, db, p.shop, o)
    return o


def referrals(db) -> list[tuple[int, str, str | None]]:
    with db.transaction() as s:
        return [(r.invitee_id, r.status, r.void_reason) for r in s.scalars(select(ProgrammeReferral).order_by(ProgrammeReferral.id))]


def counts(db) -> dict[str, int]:
    """What rewards exist at all: programme rewards, reward coupons, reward transfers."""
    with db.transaction() as s:
        return {
            "rewards": s.scalar(select(func.count()).select_from(ProgrammeReward)),
            "reward_coupons": s.scalar(select(func.count()).select_from(Coupon).where(Coupon.source == "reward")),
            "reward_transfers": s.scalar(select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.kind.in_(("points_reward", "sv_reward")))),
        }
