"""The starter kit (新手礼包, seed 003) on SQLite and PostgreSQL: a member who becomes an active
sharer gets the shop's starter coupon once — not again when reinstated, nor when every
incentives handler is replayed 50 times; a coupon that ran out is recorded, not retried for
ever; the sharer centre shows the kit (coupon, guide, materials) until dismissed or for 30
days."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linli import events
from linli.events import OutboxEvent
from linli.incentives.models import StarterKit
from linli.rewards.models import Coupon
from tests.conftest import login, problem_code
from tests.incentives.helpers import first_order, friend, setup
from tests.incentives.test_badges import configure
from tests.replay import replay_handlers
from tests.web.conftest import HTML, csrf, page_login

COUPON = "新晋分享官10元无门槛券"


def ready(client, db, merchant, clock, **over):
    """The shop and its programme, with what happened so far handled: the leader became a
    sharer when appointed, before any starter coupon was set (their kit has none)."""
    p = setup(client, merchant, clock, **over)
    events.drain(db)
    return p


def _template(client, p, total: int = 100) -> int:
    body = {"name": COUPON, "kind": "fixed", "amount": 1000, "total": total, "per_member": 1, "valid_days": 30, "claimable": False}
    r = client.post(f"/api/v1/merchants/{p.shop.merchant_id}/coupon-templates", json=body, headers=p.shop.owner)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _coupons(client, p, who, template_id: int) -> list[dict]:
    return [c for c in client.get("/api/v1/me/coupons", params={"merchant_id": p.shop.merchant_id}, headers=who).json() if c["template_id"] == template_id]


def _kit(client, p, who):
    return client.get("/api/v1/me/starter-kit", params={"merchant_id": p.shop.merchant_id}, headers=who)


def _counts(db) -> tuple[int, int, int]:
    with db.transaction() as s:
        return (s.scalar(select(func.count()).select_from(StarterKit)), s.scalar(select(func.count()).select_from(Coupon).where(Coupon.source == "reward")),
                s.scalar(select(func.count()).select_from(OutboxEvent)))


def test_a_new_sharer_gets_the_kit_once_even_when_activated_twice_or_replayed_50_times(client, db, merchant, clock):
    p = ready(client, db, merchant, clock, inviter_reward={"kind": "points", "amount": 100}, invitee_reward=None, milestones=[])
    t = _template(client, p)
    configure(client, p, starter_template_id=t)
    f = friend(client, db, p, 1)
    assert problem_code(_kit(client, p, f)) == "starter.not_found"  # joined, not a sharer
    first_order(client, db, p, f)  # the shop's sharers are everyone after a received order
    assert client.get("/api/v1/me/sharer", params={"merchant_id": p.shop.merchant_id}, headers=f).json()["status"] == "active"
    assert len(_coupons(client, p, f, t)) == 1
    kit = _kit(client, p, f).json()
    assert (kit["coupon"], kit["shown"], kit["failure"]) == (COUPON, True, None)
    assert len(kit["guide"]) == 4 and "邀请链接" in kit["guide"][0]  # the default guide, in Chinese
    # Suspended and reinstated: activated a second time, and nothing more is given.
    fid = client.get("/api/v1/me", headers=f).json()["id"]
    for action in ("suspend", "reinstate"):
        assert client.post(f"/api/v1/merchants/{p.shop.merchant_id}/sharers/{fid}/{action}", headers=p.shop.owner).status_code == 200
    events.drain(db)
    with db.transaction() as s:
        assert [e.payload["member_id"] for e in s.scalars(select(OutboxEvent).where(OutboxEvent.name == "sharer.activated"))].count(fid) == 2
    assert len(_coupons(client, p, f, t)) == 1
    before = _counts(db)
    assert before[:2] == (2, 1)  # the leader's kit (no coupon: appointed before one was set) and the friend's
    handlers = {key for key, _ in replay_handlers(db, "incentives", times=50)}
    assert "linli.incentives.handlers.starter_kit_given" in handlers
    assert _counts(db) == before
    assert len(_coupons(client, p, f, t)) == 1


def test_a_coupon_that_ran_out_is_recorded_and_the_kit_still_comes(client, db, merchant, clock):
    p = ready(client, db, merchant, clock)
    t = _template(client, p, total=1)
    configure(client, p, starter_template_id=t)
    first, second = friend(client, db, p, 1), friend(client, db, p, 2)
    first_order(client, db, p, first)
    first_order(client, db, p, second)
    assert len(_coupons(client, p, first, t)) == 1 and _coupons(client, p, second, t) == []
    kit = _kit(client, p, second).json()
    assert (kit["coupon"], kit["failure"]) == (None, "coupon.sold_out")
    configure(client, p, starter_template_id=None, starter_guide="第一步：发链接到小区群\n\n第二步：晒单")
    third = friend(client, db, p, 3)
    first_order(client, db, p, third)
    kit = _kit(client, p, third).json()
    assert (kit["coupon"], kit["failure"], kit["guide"]) == (None, None, ["第一步：发链接到小区群", "第二步：晒单"])  # no coupon set: the kit without one


def test_the_sharer_centre_shows_the_kit_until_dismissed_or_30_days(client, db, merchant, clock, app):
    p = ready(client, db, merchant, clock)
    configure(client, p, starter_template_id=_template(client, p))
    first_order(client, db, p, friend(client, db, p, 1))
    first_order(client, db, p, friend(client, db, p, 2))
    browser = TestClient(app, raise_server_exceptions=False)
    page_login(browser, "13500000001")
    url = f"/m/share/{p.shop.merchant_id}"
    html = browser.get(url, headers=HTML).text
    assert 'data-testid="starter-kit"' in html and "新手礼包" in html and COUPON in html
    assert 'data-testid="starter-guide"' in html and "邀请链接" in html
    assert f"/api/v1/me/poster?merchant_id={p.shop.merchant_id}" in html and f"{url}?product=" in html and "/i/" in html  # the material kit
    r = browser.post(f"{url}/starter-kit/dismiss", data={"csrf_token": csrf(browser)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert 'data-testid="starter-kit"' not in browser.get(url, headers=HTML).text
    other = TestClient(app, raise_server_exceptions=False)
    page_login(other, "13500000002")
    assert 'data-testid="starter-kit"' in other.get(url, headers=HTML).text
    clock.advance(days=30)
    other = TestClient(app, raise_server_exceptions=False)
    page_login(other, "13500000002")
    assert 'data-testid="starter-kit"' not in other.get(url, headers=HTML).text
    assert _kit(client, p, login(client, "13500000002")).json()["shown"] is False
