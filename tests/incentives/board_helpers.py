"""Leaderboard test helpers: sharers with their invite codes, neighbours they bring whose
orders are received, the board through the API, and the rollup as rows."""

from __future__ import annotations

from sqlalchemy import select

from linli.incentives import board_store
from linli.incentives.models import BoardScore
from tests.conftest import login
from tests.incentives.helpers import _receive
from tests.orders.helpers import Shop, buy, make_shop


class Sharer:
    def __init__(self, client, shop: Shop, phone: str) -> None:
        self.phone = phone
        self.headers = login(client, phone)
        self.id = client.get("/api/v1/me", headers=self.headers).json()["id"]
        self.code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=self.headers).json()["code"]


_friends = iter(range(1, 10_000))


def brought(client, db, shop: Shop, sharer: Sharer, sku: str, qty: int = 1) -> tuple[dict, dict]:
    """A new neighbour joins through ``sharer``'s link and has an order received (now)."""
    buyer = login(client, f"1350002{next(_friends):04d}", invite_code=sharer.code)
    o = buy(client, db, buyer, shop, [(shop.skus[sku], qty)])
    _receive(client, db, shop, o)
    return buyer, o


def shop_with_sales(client, db, merchant, clock, phones: str, skus: list[str]) -> tuple[Shop, list[Sharer]]:
    """A shop and one sharer per sku (phones ``<phones>0``, ``<phones>1``…), each bringing a
    neighbour whose order of that sku is received, a minute after the one before."""
    shop = make_shop(client, merchant, stock=2000)
    sharers = [Sharer(client, shop, f"{phones}{i}") for i in range(len(skus))]
    for i, (s, sku) in enumerate(zip(sharers, skus, strict=True)):
        if i:
            clock.advance(minutes=1)
        brought(client, db, shop, s, sku)
    return shop, sharers


def board(client, mid: int, **params) -> dict:
    r = client.get(f"/api/v1/merchants/{mid}/leaderboards", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ranks(body: dict) -> list[tuple[int, int, int]]:
    return [(e["rank"], e["member_id"], e["score"]) for e in body["entries"]]


def rollup(db) -> list[tuple]:
    with db.transaction() as s:
        return sorted((r.scope, r.scope_id, r.metric, r.period, r.period_start.isoformat(), r.member_id, r.score, str(r.reached_at), r.version)
                      for r in s.scalars(select(BoardScore)))


def redis_view(r) -> dict | None:
    """Everything the boards hold in Redis (None without Redis)."""
    store = board_store.current()
    if r is None or store is None:
        return None
    out = {}
    for key in sorted(r.scan_iter(match=store.prefix + "*")):
        out[key] = r.zrange(key, 0, -1, withscores=True) if key.endswith(b":z") else sorted(r.hgetall(key).items())
    return out


def without_redis():
    """A context: the boards read from the database alone for the block."""
    from contextlib import contextmanager

    @contextmanager
    def off():
        before = board_store.configuration()
        board_store.configure(None)
        try:
            yield
        finally:
            board_store.configure(*before)

    return off()
