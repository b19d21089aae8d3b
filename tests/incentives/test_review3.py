"""What an inviter and a shop would notice when events arrive late, race or carry odd input
(review 3 of incentives): a friend's order that completed keeps its reward whatever is
refunded afterwards and whatever order the handlers run in; several friends granted at once
each bring the inviter a gift; a receipt racing the completion is granted all the same; the
reward goes to whoever was the friend's inviter when the order was received; far dates are
refused with a problem, not a 500; an ended programme stays ended; a coupon that cannot be
given says so on the sharer's page instead of showing granted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from linli.incentives.models import ProgrammeReferral, ProgrammeReward
from tests.incentives.helpers import _complete, counts, first_order, friend, programme_body, referrals, setup
from tests.incentives.test_concurrency import _hold, _run_together


def _refund_completed(client, db, p, buyer, o, amount):
    """A member asks back money on a completed order (REFUNDABLE includes completed); the shop approves."""
    from linli import events

    line = o["lines"][0]
    r = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": amount}], "reason": "坏果"}, headers=buyer)
    assert r.status_code == 201, r.text
    case = r.json()
    if case["status"] == "requested":
        a = client.post(f"/api/v1/merchants/{p.shop.merchant_id}/refunds/{case['id']}/approve", headers=p.shop.owner)
        assert a.status_code == 200, a.text
    events.drain(db)


def test_a_refund_after_the_order_completed_does_not_take_the_inviter_s_reward_away(client, db, merchant, clock, monkeypatch):
    """RULES: pending until the after-sales window ends, then granted; voided only if refunded
    below the minimum while pending. Here the refund's handler runs before the completion's."""
    p = setup(client, merchant, clock)
    f = friend(client, db, p, 1)
    o = first_order(client, db, p, f)
    held = _hold(monkeypatch, "order.completed")  # incentives' completion handler is late (a retry, a backlog)
    _complete(db, clock)  # the window closed: the order is completed
    _refund_completed(client, db, p, f, o, 6000)  # after completion: 800 left, below the 3,000 minimum
    _run_together(db, "order.completed", held)
    assert [st for _, st, _ in referrals(db)] == ["granted"]  # was voided (refunded)


def test_a_completion_handled_late_judges_the_order_as_it_was_when_it_completed(client, db, merchant, clock, monkeypatch):
    """The completion's handler runs after a later refund was paid back: the reward is
    judged on what was paid when the window closed, not on today's net."""
    p = setup(client, merchant, clock)
    f = friend(client, db, p, 1)
    o = first_order(client, db, p, f)
    held_c = _hold(monkeypatch, "order.completed")
    _complete(db, clock)
    held_r = _hold(monkeypatch, "order.refunded")
    _refund_completed(client, db, p, f, o, 6000)
    _run_together(db, "order.completed", held_c)  # in order: completion first, then the refund
    _run_together(db, "order.refunded", held_r)
    assert [st for _, st, _ in referrals(db)] == ["granted"]  # was voided: the later refund was read from the database


def test_three_referrals_granted_at_once_each_give_the_inviter_its_gift(client, db, merchant, clock, monkeypatch):
    """Three friends' orders complete together (parallel workers): the inviter gets three
    gift coupons, not one and two rewards recorded as granted with nothing."""
    p = setup(client, merchant, clock)
    for i in range(3):
        first_order(client, db, p, friend(client, db, p, i))
    held = _hold(monkeypatch, "order.completed")
    _complete(db, clock)
    _run_together(db, "order.completed", held)
    with db.transaction() as s:
        got = [r.granted for r in s.scalars(select(ProgrammeReward).where(ProgrammeReward.side == "inviter", ProgrammeReward.milestone_id.is_(None)))]
    assert got == [1, 1, 1]  # PostgreSQL: was [1, 0, 0] (the coupon seq race read as "member limit")
    assert counts(db)["reward_coupons"] == 6


def test_far_future_dates_are_refused_not_a_500(client, db, merchant, clock, app):
    """A shop typing year 9999 (API or console) gets its field refused, not a server error."""
    from fastapi.testclient import TestClient

    from tests.incentives.helpers import programme_body
    from tests.orders.helpers import make_shop
    from tests.web.conftest import HTML, csrf, page_login

    shop = make_shop(client, merchant)
    body = programme_body(shop, clock, 0, invitee_reward=None, ends_at="9999-12-31T23:00:00-12:00")
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/referral-programmes", json=body, headers=shop.owner)
    api_status = r.status_code
    console = TestClient(app, raise_server_exceptions=False)
    page_login(console, merchant.owner_phone, "console")
    url = f"/console/merchants/{shop.merchant_id}/referral-programmes"
    form = {"csrf_token": csrf(console), "name": "x", "starts_at": "2026-11-22", "ends_at": "9999-12-31", "min_paid": "1",
            "window_days": "30", "monthly_cap": "20", "inviter_kind": "points", "inviter_amount": "300"}
    console_status = console.post(url, data=form, headers=HTML).status_code
    assert (api_status, console_status) == (422, 422)


@pytest.mark.parametrize("backend", ["postgresql"])  # two transactions open at once: PostgreSQL's row locks
def test_a_late_receipt_racing_the_completion_is_still_granted(client, db, merchant, clock, monkeypatch, backend):
    """The receipt's handler is still in its transaction when the order completes: the
    completion's handler finds the friend's turn taken and is retried, and the backstop job
    grants the referral — it is never left pending for ever."""
    from linli.events import OutboxEvent
    from linli.incentives import referrals as incentive_referrals
    from linli.orders.events import OrderReceived

    p = setup(client, merchant, clock)
    _hold(monkeypatch, "order.received")  # the receipt's handler runs late (a backlog) ...
    first_order(client, db, p, friend(client, db, p, 1))
    with db.transaction() as s:
        payload, at = s.execute(select(OutboxEvent.payload, OutboxEvent.created_at).where(OutboxEvent.name == "order.received")).one()
    with db.transaction() as s1:  # ... and is inside its transaction (order still "received") when
        incentive_referrals.on_received(s1, OrderReceived.from_json(payload), at)
        _complete(db, clock)  # the order completes, and incentives' completion handler sees no pending referral yet
    _complete(db, clock)
    assert [st for _, st, _ in referrals(db)] == ["granted"]  # was pending, with nothing left to grant it


def test_a_rebinding_before_the_receipt_is_handled_leaves_the_referral_to_the_inviter_of_the_time(client, db, merchant, clock, monkeypatch):
    """The friend was bound to the inviter when the order was received and rebound to
    someone else before incentives handled the receipt: the first inviter still gets it."""
    from linli import events
    from linli.referral import service as referral_service
    from tests.conftest import login

    p = setup(client, merchant, clock)
    with db.transaction() as s:
        referral_service.configure(s, p.shop.merchant_id, bind_mode="protected", protection_days=1, sharer_mode="everyone_after_purchase", spend_threshold=0)
    f = friend(client, db, p, 1)
    clock.advance(days=2)
    held = _hold(monkeypatch, "order.received")
    first_order(client, db, p, f)  # received while bound to the inviter: qualifies for them
    clock.advance(minutes=5)
    other = login(client, "13600000002")
    code2 = client.get("/api/v1/me/invite", params={"merchant_id": p.shop.merchant_id}, headers=other).json()["code"]
    r = client.post(f"/api/v1/merchants/{p.shop.merchant_id}/bindings", json={"invite_code": code2}, headers=f)
    assert r.status_code in (200, 201), r.text  # the protection is over: rebound to another sharer
    events.drain(db)
    _run_together(db, "order.received", held)  # incentives handles the receipt after the rebinding
    with db.transaction() as s:
        assert [(r.inviter_id, r.status) for r in s.scalars(select(ProgrammeReferral))] == [(p.inviter_id, "pending")]  # was [] (the new binding is after the receipt)


def test_a_programme_past_its_last_day_cannot_be_revived_by_a_new_end_date(client, db, merchant, clock):
    from datetime import timedelta

    from tests.conftest import problem_code

    p = setup(client, merchant, clock)
    url = f"/api/v1/merchants/{p.shop.merchant_id}/referral-programmes/{p.id}"
    clock.advance(days=61)  # its last day has passed: it ended on its own
    r = client.patch(url, json={"ends_at": (clock() + timedelta(days=30)).isoformat()}, headers=p.shop.owner)
    assert r.status_code == 409 and problem_code(r) == "programme.ended"


def test_a_coupon_that_runs_out_shows_as_not_given_on_the_sharer_page_not_as_granted(client, db, merchant, clock, app):
    from fastapi.testclient import TestClient

    from tests.incentives.helpers import INVITER
    from tests.web.conftest import HTML, page_login

    p = setup(client, merchant, clock)
    h, mid = p.shop.owner, p.shop.merchant_id
    t = client.post(f"/api/v1/merchants/{mid}/coupon-templates", json={"name": "邀请5元", "kind": "fixed", "amount": 500, "total": 1, "valid_days": 30, "claimable": False}, headers=h).json()
    r = client.post(f"/api/v1/merchants/{mid}/referral-programmes", json={**p.body, "name": "限量券", "inviter_reward": {"kind": "coupon", "template_id": t["id"]}, "invitee_reward": None,
                                                                         "milestones": []}, headers=h)
    assert r.status_code == 201, r.text
    for i in range(2):
        first_order(client, db, p, friend(client, db, p, i))
    _complete(db, clock)
    mine = client.get("/api/v1/me/referrals", params={"merchant_id": mid}, headers=p.inviter).json()["referrals"]
    ours = sorted(((x["status"], x["reward_failure"]) for x in mine if x["programme_id"] == r.json()["id"]), key=lambda x: x[1] or "")
    assert ours == [("granted", None), ("granted", "coupon.sold_out")]  # the second inviter coupon: none left
    browser = TestClient(app, raise_server_exceptions=False)
    page_login(browser, INVITER)
    html = browser.get(f"/m/share/{mid}", headers=HTML).text
    assert "奖励未能发放" in html and "优惠券已发完" in html


def test_a_deactivated_or_ended_coupon_is_refused_as_a_programme_reward(client, db, merchant, clock):
    from datetime import timedelta

    from linli.rewards.models import CouponTemplate
    from tests.conftest import problem_code
    from tests.orders.helpers import make_shop

    shop = make_shop(client, merchant)
    h, mid = shop.owner, shop.merchant_id
    base = {"kind": "fixed", "amount": 500, "total": 100, "claimable": False}
    off = client.post(f"/api/v1/merchants/{mid}/coupon-templates", json={**base, "name": "停用券", "valid_days": 30}, headers=h).json()
    with db.transaction() as s:  # the console's 停用 (coupons.set_active)
        s.get(CouponTemplate, off["id"]).active = False
    ended = client.post(f"/api/v1/merchants/{mid}/coupon-templates", json={**base, "name": "过期券", "valid_to": (clock() + timedelta(hours=1)).isoformat()}, headers=h).json()
    clock.advance(hours=2)
    for tid in (off["id"], ended["id"]):
        body = programme_body(shop, clock, tid, inviter_reward={"kind": "coupon", "template_id": tid}, invitee_reward=None, milestones=[])
        r = client.post(f"/api/v1/merchants/{mid}/referral-programmes", json=body, headers=h)
        assert r.status_code == 422 and problem_code(r) == "programme.reward_template_unavailable", r.text


def test_a_receipt_handled_after_completion_and_a_later_refund_is_judged_at_completion(client, db, merchant, clock, monkeypatch):
    """The receipt's handler runs only after the order completed and was then partly
    refunded: the reward counts what was paid when the window closed."""
    p = setup(client, merchant, clock)
    f = friend(client, db, p, 1)
    held = _hold(monkeypatch, "order.received")
    o = first_order(client, db, p, f)
    _complete(db, clock)
    _refund_completed(client, db, p, f, o, 6000)  # 800 left today, 6,800 at completion
    _run_together(db, "order.received", held)
    assert [st for _, st, _ in referrals(db)] == ["granted"]


def test_a_completion_whose_handler_never_ran_is_granted_by_the_backstop_job(client, db, merchant, clock, monkeypatch):
    """Incentives' completion handler is lost for good (held back here): an hour or more
    after the order completed, the due job grants the pending referral once."""
    p = setup(client, merchant, clock)
    first_order(client, db, p, friend(client, db, p, 1))
    _hold(monkeypatch, "order.completed")
    _complete(db, clock)
    assert [st for _, st, _ in referrals(db)] == ["pending"]  # the job leaves a fresh completion to its handler
    _complete(db, clock)
    _complete(db, clock)
    assert [st for _, st, _ in referrals(db)] == ["granted"]
    assert counts(db)["reward_coupons"] == 2  # the inviter's gift and the friend's coupon, once
