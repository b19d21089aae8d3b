"""Badges through the API on SQLite and PostgreSQL: 社区推荐官 with the 5th granted referral
within 90 days (not at 4, not when the 5th comes after 90 days), GMV badges revoked when a
refund takes the referred GMV below the threshold, and the nightly backfill agreeing with
what the events did — reporting nothing on a consistent state, and repairing (and reporting)
a missed grant and a missed revocation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from linli import jobs
from linli.events import OutboxEvent
from linli.incentives import badge_backfill
from linli.incentives.models import BadgeCheck, MemberBadge
from tests.conftest import login
from tests.incentives.helpers import INVITER, _complete, _receive, _refund, first_order, friend, setup
from tests.orders.helpers import buy


def mine(client, p, who, lang: str = "zh-CN") -> dict:
    r = client.get("/api/v1/me/badges", params={"merchant_id": p.shop.merchant_id}, headers={**who, "Accept-Language": lang})
    assert r.status_code == 200, r.text
    return r.json()


def held(client, p, who) -> set[str]:
    return {b["code"] for b in mine(client, p, who)["badges"]}


def progress(client, p, who) -> dict[str, tuple[int, int]]:
    return {g["code"]: (g["value"], g["target"]) for g in mine(client, p, who)["progress"]}


def configure(client, p, **values) -> dict:
    r = client.put(f"/api/v1/merchants/{p.shop.merchant_id}/badge-settings", json=values, headers=p.shop.owner)
    assert r.status_code == 200, r.text
    return r.json()


def holders(db) -> set[tuple[int, str]]:
    with db.transaction() as s:
        return {(r.member_id, r.badge) for r in s.scalars(select(MemberBadge).where(MemberBadge.status == "held"))}


def nightly_changes(db) -> list[tuple[int, int]]:
    with db.transaction() as s:
        return [(c.granted, c.revoked) for c in s.scalars(select(BadgeCheck).order_by(BadgeCheck.id))]


def badge_events(db, name: str) -> list[dict]:
    with db.transaction() as s:
        return [e.payload for e in s.scalars(select(OutboxEvent).where(OutboxEvent.name == name).order_by(OutboxEvent.id))]


def test_the_recommender_comes_with_the_fifth_granted_referral_within_90_days(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    for i in range(4):
        first_order(client, db, p, friend(client, db, p, i))
    _complete(db, clock)
    assert "recommender" not in held(client, p, p.inviter)
    assert progress(client, p, p.inviter)["recommender"] == (4, 5)
    first_order(client, db, p, friend(client, db, p, 4))
    assert "recommender" not in held(client, p, p.inviter)  # received, not granted yet: the after-sales window is open
    _complete(db, clock)
    m = mine(client, p, p.inviter)
    [rec] = [b for b in m["badges"] if b["code"] == "recommender"]
    assert rec["name"] == "社区推荐官" and rec["privileges"] == ["trials_first", "campaign_code", "recommender_group"]
    assert "recommender" not in {g["code"] for g in m["progress"]}
    assert [b["name"] for b in mine(client, p, p.inviter, "en")["badges"] if b["code"] == "recommender"] == ["Community recommender"]
    with db.transaction() as s:
        assert s.scalars(select(MemberBadge.source).where(MemberBadge.badge == "recommender")).all() == ["event"]
    assert nightly_changes(db) and all(c == (0, 0) for c in nightly_changes(db))  # the events did it all: nothing to repair
    [granted] = [e for e in badge_events(db, "badge.granted") if e["badge"] == "recommender"]
    assert (granted["member_id"], granted["value"], granted["threshold"], granted["source"]) == (p.inviter_id, 5, 5, "event")


def _months_later(client, merchant, p) -> None:
    """Fresh logins after months (the old tokens have expired)."""
    p.shop.owner.update(login(client, merchant.owner_phone))
    p.shop.leader.update(login(client, "13900000001"))
    p.inviter.update(login(client, INVITER))


def test_no_recommender_when_the_fifth_comes_after_90_days_until_five_fall_within_90(client, db, merchant, clock):
    p = setup(client, merchant, clock, ends_at=(clock() + timedelta(days=400)).isoformat())
    for i in range(4):
        first_order(client, db, p, friend(client, db, p, i))
    _complete(db, clock)
    clock.advance(days=91)
    _months_later(client, merchant, p)
    first_order(client, db, p, friend(client, db, p, 4))
    _complete(db, clock)
    assert "recommender" not in held(client, p, p.inviter)
    assert progress(client, p, p.inviter)["recommender"] == (1, 5)  # only the 5th is in the last 90 days
    for i in range(5, 9):
        first_order(client, db, p, friend(client, db, p, i))
    _complete(db, clock)
    assert "recommender" in held(client, p, p.inviter)  # five within 90 days: the 5th to the 9th
    # Kept once earned: 91 days later none of them is within 90 days.
    clock.advance(days=91)
    jobs.run_due(db, clock())
    _months_later(client, merchant, p)
    assert "recommender" in held(client, p, p.inviter)
    assert all(c == (0, 0) for c in nightly_changes(db))


def test_a_refund_below_the_gmv_threshold_revokes_the_badge_and_the_backfill_agrees(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    configure(client, p, gmv_bronze=50_000)
    f = friend(client, db, p, 1)
    o = first_order(client, db, p, f, qty=8)  # 54,400 fen
    assert held(client, p, p.inviter) == {"first_sale", "gmv_bronze"}
    _refund(client, db, p.shop, f, o, 0, 6800)  # 47,600 left
    assert held(client, p, p.inviter) == {"first_sale"}
    [revoked] = badge_events(db, "badge.revoked")
    assert (revoked["badge"], revoked["value"], revoked["threshold"]) == ("gmv_bronze", 47_600, 50_000)
    assert progress(client, p, p.inviter)["gmv_bronze"] == (47_600, 50_000)
    before = holders(db)
    assert badge_backfill.backfill(db, p.shop.merchant_id, clock()).changed == 0
    assert holders(db) == before
    _refund(client, db, p.shop, f, o, 0, 47_600)  # refunded to 0: the only sale is gone
    assert held(client, p, p.inviter) == set()
    assert badge_backfill.backfill(db, p.shop.merchant_id, clock()).changed == 0
    # A new sale brings them back.
    g = friend(client, db, p, 2)
    first_order(client, db, p, g, qty=8)
    assert held(client, p, p.inviter) == {"first_sale", "gmv_bronze"}


def test_the_event_path_and_the_nightly_backfill_give_the_same_holders(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    configure(client, p, recommender_referrals=3, gmv_bronze=20_000)
    friends = [friend(client, db, p, i) for i in range(4)]
    sales = [first_order(client, db, p, f) for f in friends]
    _refund(client, db, p.shop, friends[3], sales[3], 0, 6800)  # refunded in full: voided, and no sale
    # friend 0 became a sharer with their first received order and brings a neighbour in turn.
    code = client.get("/api/v1/me/invite", params={"merchant_id": p.shop.merchant_id}, headers=friends[0]).json()["code"]
    neighbour = login(client, "13500009999", invite_code=code)
    _receive(client, db, p.shop, buy(client, db, neighbour, p.shop, [(p.shop.skus["berry"], 1)]))
    _complete(db, clock)
    f0 = client.get("/api/v1/me", headers=friends[0]).json()["id"]
    by_events = holders(db)
    assert by_events == {(p.inviter_id, "recommender"), (p.inviter_id, "first_sale"), (p.inviter_id, "gmv_bronze"), (f0, "first_sale")}
    with db.transaction() as s:
        assert {(m, c) for m, codes in badge_backfill.expected(s, p.shop.merchant_id).items() for c in codes} == by_events
    assert badge_backfill.backfill(db, p.shop.merchant_id, clock()).changed == 0
    # A missed grant (friend 0's) and a missed revocation (a gold badge the facts do not support).
    with db.transaction() as s:
        s.execute(delete(MemberBadge).where(MemberBadge.member_id == f0))
        s.add(MemberBadge(merchant_id=p.shop.merchant_id, member_id=p.inviter_id, badge="gmv_gold", status="held", granted_at=clock(), source="event"))
    jobs.run_due(db, clock.advance(days=1))  # the next night
    assert holders(db) == by_events
    with db.transaction() as s:
        check = s.scalars(select(BadgeCheck).order_by(BadgeCheck.id.desc())).first()
        assert (check.granted, check.revoked, sorted(map(tuple, check.changes))) == (1, 1, sorted([(f0, "first_sale", "granted"), (p.inviter_id, "gmv_gold", "revoked")]))
        assert s.scalars(select(MemberBadge.source).where(MemberBadge.member_id == f0)).all() == ["backfill"]
    jobs.run_due(db, clock())  # the same Shanghai day: checked once
    with db.transaction() as s:
        assert len(s.scalars(select(BadgeCheck.id).where(BadgeCheck.day == check.day)).all()) == 1
