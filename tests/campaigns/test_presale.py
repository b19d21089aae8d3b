"""Pre-sale (今晚订、明早达): orders close at the cut-off, the date is promised, and the close
hands the warehouse its purchase list."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from linli import events, jobs
from linli.events import OutboxEvent
from tests.campaigns.helpers import add_offer, campaign_shop, create_campaign, resident
from tests.conftest import problem_code
from tests.orders.helpers import buy, order, pay

NOTE = "明早8点前送达东门驿站"


def _presale(client, shop, clock) -> dict:
    c = create_campaign(client, shop, "presale", clock.current, title="今晚订·明早达 草莓", promised_date="2026-11-23", promised_note=NOTE)
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=5800)
    add_offer(client, shop, c["id"], sku_id=shop.skus["apple"], price=2500)
    return c


def _status(client, shop, c) -> str:
    listed = client.get(f"/api/v1/merchants/{shop.merchant_id}/campaigns", params={"kind": "presale"}, headers=shop.owner).json()
    return next(x["status"] for x in listed if x["id"] == c["id"])


def _closed(db, campaign_id) -> list[dict]:
    with db.transaction() as s:
        return [e.payload for e in s.scalars(select(OutboxEvent).where(OutboxEvent.name == "campaign.closed").order_by(OutboxEvent.id)) if e.payload["campaign_id"] == campaign_id]


def test_orders_before_cutoff_promise_a_date_and_after_it_are_refused(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c = _presale(client, shop, clock)
    buyer = resident(client, "13700000701", shop.community_id)
    view = client.get(f"/api/v1/campaigns/{c['id']}", headers=buyer).json()
    assert (view["kind"], view["phase"], view["promised_date"], view["promised_note"]) == ("presale", "live", "2026-11-23", NOTE)
    assert date.fromisoformat(view["promised_date"]) >= date.fromisoformat(view["ends_at"][:10])
    r = order(client, buyer, shop, [(shop.skus["berry"], 1), (shop.skus["apple"], 2)], campaign_id=c["id"])
    assert r.status_code == 201, r.text
    assert r.json()["payable"] == 5800 + 2 * 2500
    # A pre-sale order is not held: once paid it goes on to fulfilment.
    assert pay(client, db, buyer, r.json()["id"])["status"] == "paid"

    clock.advance(hours=3)  # the cut-off
    r = order(client, resident(client, "13700000702", shop.community_id), shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.cutoff_passed"
    assert client.get(f"/api/v1/campaigns/{c['id']}", headers=buyer).json()["phase"] == "ended"
    no_date = {"kind": "presale", "title": "没有承诺日期", "starts_at": clock.current.isoformat(), "ends_at": (clock.current + timedelta(hours=2)).isoformat()}
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/campaigns", json=no_date, headers=shop.owner)
    assert r.status_code == 422 and problem_code(r) == "campaign.promised_date_required"


def test_cutoff_closes_the_presale_with_the_purchase_list(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c = _presale(client, shop, clock)
    b1, b2, b3, b4 = (resident(client, f"1370000080{i}", shop.community_id) for i in range(1, 5))
    buy(client, db, b1, shop, [(shop.skus["berry"], 1), (shop.skus["apple"], 2)], campaign_id=c["id"])
    buy(client, db, b2, shop, [(shop.skus["berry"], 2)], campaign_id=c["id"], pickup_point_id=cs.other_point_id)
    clock.advance(hours=2, minutes=55)
    # Two orders placed five minutes before the cut-off, not yet paid.
    late_paid = order(client, b3, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"]).json()
    never_paid = order(client, b4, shop, [(shop.skus["apple"], 4)], campaign_id=c["id"]).json()
    assert _status(client, shop, c) == "active"

    # Before the cut-off the job leaves it open.
    jobs.run_due(db, clock.current)
    assert _status(client, shop, c) == "active"

    clock.advance(minutes=5)
    jobs.run_due(db, clock.current)
    # No more orders, but the orders placed in time may still be paid in their window.
    assert _status(client, shop, c) == "closing"
    assert _closed(db, c["id"]) == []
    clock.advance(minutes=3)
    assert pay(client, db, b3, late_paid["id"])["status"] == "paid"

    clock.advance(minutes=15)
    jobs.run_due(db, clock.current)
    assert _status(client, shop, c) == "closed"
    assert client.get(f"/api/v1/orders/{never_paid['id']}", headers=b4).json()["status"] == "cancelled"
    [ev] = _closed(db, c["id"])
    assert (ev["kind"], ev["orders"], ev["promised_date"], ev["promised_note"]) == ("presale", 3, "2026-11-23", NOTE)
    units = {u["sku_id"]: (u["qty"], u["orders"]) for u in ev["units"]}
    assert units == {shop.skus["berry"]: (4, 3), shop.skus["apple"]: (2, 1)}
    assert {u["product_name"] for u in ev["units"]} == {"黄金奶油草莓", "阿克苏苹果"}

    # Closing again changes nothing; the cut-off still refuses orders.
    jobs.run_due(db, clock.current + timedelta(days=1))
    assert len(_closed(db, c["id"])) == 1
    r = order(client, b4, shop, [(shop.skus["apple"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.cutoff_passed"
    r = client.post(f"/api/v1/orders/{never_paid['id']}/pay", headers=b4)
    assert r.status_code == 409 and problem_code(r) == "order.cancelled"
    events.drain(db)
