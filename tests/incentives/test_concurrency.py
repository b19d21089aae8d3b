"""Under real concurrency (threads released together; PostgreSQL for real, SQLite taking
its writer turns): 50 qualifying first orders of one inviter's friends handled at once pass
the monthly cap exactly, and three referrals granted at the same moment reach the
3-friends milestone once; eight sales of one sharer handled at once reach the GMV badge that
only all eight together reach.

The incentives handler of the event under test is held back while the API flow runs (the
other domains' handlers run as usual), then called for every such event at once, each in
its own transaction, as parallel workers would."""

from __future__ import annotations

from sqlalchemy import func, select

from linli import events, ledger
from linli.events import Event, OutboxEvent
from linli.incentives import badge_backfill
from linli.incentives.models import MemberBadge, ProgrammeCap, ProgrammeMilestone, ProgrammeReward
from tests.incentives.helpers import _complete, first_order, friend, referrals, setup
from tests.orders.concurrency import together


def _hold(monkeypatch, name: str) -> list:
    held = [r for r in events.registrations(name) if r.key.startswith("linli.incentives.")]
    assert held, name
    monkeypatch.setitem(events._handlers, name, [r for r in events.registrations(name) if r not in held])
    return held


def _run_together(db, name: str, held: list) -> None:
    with db.transaction() as s:
        rows = list(s.execute(select(OutboxEvent.id, OutboxEvent.merchant_id, OutboxEvent.payload, OutboxEvent.created_at).where(OutboxEvent.name == name).order_by(OutboxEvent.id)))
    assert rows

    def handle(i: int) -> None:
        eid, mid, payload, at = rows[i]
        for reg in held:
            with db.transaction() as s:
                reg.handler(s, Event(eid, name, mid, reg.payload_type.from_json(payload), at))

    together(len(rows), handle)


def test_the_monthly_cap_holds_under_30_concurrent_qualifying_orders(client, db, merchant, clock, monkeypatch):
    p = setup(client, merchant, clock, monthly_cap=12)
    held = _hold(monkeypatch, "order.received")
    for i in range(30):
        first_order(client, db, p, friend(client, db, p, i))
    assert referrals(db) == []
    _run_together(db, "order.received", held)
    states = [(s, why) for _, s, why in referrals(db)]
    assert len(states) == 30
    assert states.count(("pending", None)) == 12 and states.count(("voided", "monthly_cap")) == 18
    with db.transaction() as s:
        assert s.scalars(select(ProgrammeCap.qty)).all() == [12]
    monkeypatch.undo()
    _complete(db, clock)
    with db.transaction() as s:
        inviter_gifts = s.scalar(select(func.count()).select_from(ProgrammeReward).where(ProgrammeReward.side == "inviter", ProgrammeReward.milestone_id.is_(None)))
        assert inviter_gifts == 12
        assert ledger.check(s) == []


def test_three_referrals_granted_at_once_reach_the_milestone_once(client, db, merchant, clock, monkeypatch):
    p = setup(client, merchant, clock)
    for i in range(3):
        first_order(client, db, p, friend(client, db, p, i))
    held = _hold(monkeypatch, "order.completed")
    _complete(db, clock)
    assert [s for _, s, _ in referrals(db)] == ["pending"] * 3
    _run_together(db, "order.completed", held)
    assert [s for _, s, _ in referrals(db)] == ["granted"] * 3
    with db.transaction() as s:
        assert s.scalars(select(ProgrammeMilestone.count)).all() == [3]
        assert s.scalar(select(func.count()).select_from(ProgrammeReward).where(ProgrammeReward.milestone_id.is_not(None))) == 1
        assert ledger.check(s) == []
    w = client.get("/api/v1/me/wallet", params={"merchant_id": p.shop.merchant_id}, headers=p.inviter).json()
    assert w["points"]["available"] == 500


def test_sales_of_one_sharer_handled_at_once_reach_the_gmv_badge(client, db, merchant, clock, monkeypatch):
    """Eight friends' orders of 13,600 fen: only all eight together reach 带货铜牌 (100,000 fen;
    any seven are 95,200). Handled at once, the last to take the sharer's badge turn sees the
    others' sales, so the badge is granted, once."""
    p = setup(client, merchant, clock)
    held = _hold(monkeypatch, "order.received")
    for i in range(8):
        first_order(client, db, p, friend(client, db, p, i), qty=2)
    _run_together(db, "order.received", held)
    with db.transaction() as s:
        assert {(b.member_id, b.badge) for b in s.scalars(select(MemberBadge).where(MemberBadge.status == "held"))} == {(p.inviter_id, "first_sale"), (p.inviter_id, "gmv_bronze")}
        granted = [e.payload["badge"] for e in s.scalars(select(OutboxEvent).where(OutboxEvent.name == "badge.granted"))]
    assert sorted(granted) == ["first_sale", "gmv_bronze"]
    monkeypatch.undo()
    assert badge_backfill.backfill(db, p.shop.merchant_id, clock()).changed == 0
