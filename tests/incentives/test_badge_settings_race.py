"""A shop's first badge settings saved twice at once (a double tap on 保存): both saves are
answered, neither is a 500 — the settings row is made once, then changed in turn."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import LiveServer
from tests.orders.concurrency import together
from tests.orders.helpers import make_shop


def test_first_badge_settings_saved_at_the_same_instant_are_both_answered(app, client, db, merchant):
    shop = make_shop(client, merchant)
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            got = together(6, lambda i: http.put(f"/api/v1/merchants/{shop.merchant_id}/badge-settings", json={"recommender_referrals": 3 + i}, headers=shop.owner))
    finally:
        server.stop()
    assert [r.status_code for r in got] == [200] * 6, [r.text[:200] for r in got]
    final = client.get(f"/api/v1/merchants/{shop.merchant_id}/badge-settings", headers=shop.owner).json()
    assert final["recommender_referrals"] in {3 + i for i in range(6)}
