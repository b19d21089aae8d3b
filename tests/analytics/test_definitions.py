"""RULES.md's analytics definitions on a hand-built week, through the API on both databases.

The shop (云顶华府, leader 老李) and one sharer. Day 1 is 2026-11-22 (Asia/Shanghai):
- day 1: A joins through the sharer's link and buys a box of berries (68.00); B comes by
  themself and buys apples (29.90);
- day 2: A's berries are picked up; day 3: B's apples are picked up, and C joins through
  the sharer's link (buys nothing);
- day 4: A buys berries again (68.00), picked up the same day;
- day 5: B gets 10.00 back for a bad apple (after receipt: a late refund).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile
from datetime import date

from sqlalchemy import text

from linli import events
from linli.analytics import exports, rebuild, rules, service
from linli.analytics.models import AnalyticsOrder
from tests.conftest import login, problem_code
from tests.orders.helpers import buy, make_shop
from tests.rewards.test_points import _receive, _refund
from tests.web.conftest import HTML, page_login

DAY1 = date(2026, 11, 22)
SHARER = "13600000009"


def _week(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    sharer = login(client, SHARER)
    sharer_id = client.get("/api/v1/me", headers=sharer).json()["id"]
    code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=sharer).json()["code"]
    a = login(client, "13500000001", invite_code=code)
    b = login(client, "13500000002")
    events.drain(db)
    a1 = buy(client, db, a, shop, [(shop.skus["berry"], 1)])
    b1 = buy(client, db, b, shop, [(shop.skus["apple"], 1)])
    clock.advance(days=1)
    _receive(client, db, shop, a1)
    clock.advance(days=1)
    _receive(client, db, shop, b1)
    login(client, "13500000003", invite_code=code)
    events.drain(db)
    clock.advance(days=1)
    a2 = buy(client, db, a, shop, [(shop.skus["berry"], 1)])
    _receive(client, db, shop, a2)
    clock.advance(days=1)
    _refund(client, db, shop, b, b1, 0, 1000)
    return shop, sharer_id


def test_the_overview_of_a_hand_built_week(client, db, merchant, clock):
    shop, _ = _week(client, db, merchant, clock)
    r = client.get(f"/api/v1/merchants/{shop.merchant_id}/analytics/overview", params={"from": "2026-11-22", "to": "2026-11-26"}, headers=shop.owner)
    assert r.status_code == 200, r.text
    o = r.json()
    assert o["gmv"] == 6800 + 2990 + 6800 - 1000  # paid by payment day, the refund on the day it was paid back
    assert o["orders"] == 3
    assert o["customers"] == 2  # A and B
    assert o["new_members"] == 3  # A and C bound through the link, B by their first order
    # Received orders' net paid: A's two (attributed) 13,600 of 13,600 + B's 1,990.
    assert o["distribution_gmv_share_bp"] == 8724  # 13600 / 15590 = 87.235…%
    # One sharer whose code was used; 2 invites (A, C); 1 converted (A's first received order came through them).
    assert o["k_factor"] == {"value": "1.00", "invites_per_sharer": "2.00", "value_bp": 10000, "invites_per_sharer_bp": 20000, "conversion_bp": 5000,
                              "sharers": 1, "invites": 2, "converted": 1}
    assert o["repurchase_30d_bp"] == 5000 and o["repurchase_90d_bp"] == 5000  # A twice, B once
    assert o["refund_rate_bp"] == 603  # 1,000 of 16,590 paid in the range
    assert [(d["day"], d["gmv"], d["orders"]) for d in o["series"]] == [
        ("2026-11-22", 9790, 2), ("2026-11-23", 0, 0), ("2026-11-24", 0, 0), ("2026-11-25", 6800, 1), ("2026-11-26", -1000, 0)]
    # The refund day alone: finance sees the money going back, nothing sold.
    day5 = client.get(f"/api/v1/merchants/{shop.merchant_id}/analytics/overview", params={"from": "2026-11-26", "to": "2026-11-26"}, headers=shop.owner).json()
    assert (day5["gmv"], day5["orders"], day5["refund_rate_bp"]) == (-1000, 0, 0)
    # The default is the 7 days to today; a preset names its own.
    week = client.get(f"/api/v1/merchants/{shop.merchant_id}/analytics/overview", headers=shop.owner).json()
    assert (week["start"], week["end"], week["gmv"]) == ("2026-11-20", "2026-11-26", o["gmv"])
    # 11-25 alone: A's second box came through the binding, no code was used and nobody joined.
    day4 = client.get(f"/api/v1/merchants/{shop.merchant_id}/analytics/overview", params={"from": "2026-11-25", "to": "2026-11-25"}, headers=shop.owner).json()
    assert day4["k_factor"] == {"value": "0.00", "invites_per_sharer": "0.00", "value_bp": 0, "invites_per_sharer_bp": 0, "conversion_bp": 0,
                                 "sharers": 0, "invites": 0, "converted": 0} and day4["orders"] == 1
    today = client.get(f"/api/v1/merchants/{shop.merchant_id}/analytics/overview", params={"period": "today"}, headers=shop.owner).json()
    assert (today["start"], today["end"]) == ("2026-11-26", "2026-11-26")


def test_contribution_tables_per_community_leader_and_sharer(client, db, merchant, clock):
    shop, sharer_id = _week(client, db, merchant, clock)
    base = f"/api/v1/merchants/{shop.merchant_id}/analytics"
    week = {"from": "2026-11-22", "to": "2026-11-26"}
    communities = client.get(f"{base}/communities", params=week, headers=shop.owner).json()
    assert [(c["id"], c["name"], c["gmv"], c["orders"], c["new_members"], c["refund_rate_bp"]) for c in communities] == [
        (shop.community_id, "云顶华府", 15590, 3, 2, 603)]  # A and B first ordered there; C has no community yet
    sharers = client.get(f"{base}/sharers", params=week, headers=shop.owner).json()
    assert [(c["id"], c["name"], c["gmv"], c["orders"], c["new_members"]) for c in sharers] == [(sharer_id, "136****0009", 13600, 2, 2)]
    leaders = client.get(f"{base}/leaders", params=week, headers=shop.owner).json()
    assert [(c["id"], c["gmv"], c["orders"]) for c in leaders] == [(shop.leader_id, 15590, 3)]
    by_orders = client.get(f"{base}/sharers", params={**week, "sort": "refund_rate_bp"}, headers=shop.owner)
    assert by_orders.status_code == 200


def test_a_rebuild_from_the_orders_equals_the_rollups_and_repairs_a_tampered_one(client, db, merchant, clock):
    shop, _ = _week(client, db, merchant, clock)
    report = rebuild.rebuild(db, clock())
    assert report.differences == [] and report.orders == 3
    with db.transaction() as s:
        s.execute(text("UPDATE analytics_days SET gmv = gmv + 1 WHERE id = (SELECT MIN(id) FROM analytics_days WHERE day = :d AND sharer_id = 0)"), {"d": DAY1})
    report = rebuild.rebuild(db, clock(), write=False)
    assert len(report.differences) == 1 and "gmv kept 2991, orders say 2990" in report.differences[0]  # B's apples
    report = rebuild.rebuild(db, clock(), shop.merchant_id)
    assert len(report.differences) == 1
    assert rebuild.rebuild(db, clock()).differences == []
    # --from: an order whose refund was never counted (its facts put back as they were paid)
    # is restated on its own day too, not only on the days from --from on.
    with db.transaction() as s:  # the refund of B's apples (order 2) as if its event was never handled
        counted = service.stored_fact(s.get(AnalyticsOrder, 2))
        before = dataclasses.replace(counted, refunds=())
        service.apply(s, rules.difference(rules.day_rows(counted), rules.day_rows(before)), rules.difference(rules.member_rows(counted), rules.member_rows(before)))
        s.execute(text("UPDATE analytics_orders SET refunds = '' WHERE order_id = 2"))
    assert len(rebuild.rebuild(db, clock(), write=False).differences) == 6  # paid day (3 columns), received day, refund day; the member day
    report = rebuild.rebuild(db, clock(), since=date(2026, 11, 24))
    assert report.differences and rebuild.rebuild(db, clock(), write=False).differences == []
    o = client.get(f"/api/v1/merchants/{shop.merchant_id}/analytics/overview", params={"from": "2026-11-22", "to": "2026-11-22"}, headers=shop.owner).json()
    assert o["gmv"] == 9790


def test_staff_see_only_their_merchant_and_bad_ranges_are_refused(client, db, merchant, admin, clock):
    shop, _ = _week(client, db, merchant, clock)
    r = client.post("/api/v1/merchants", json={"name": "另一家", "owner_phone": "13800000002"}, headers=admin)
    other = login(client, "13800000002")
    url = f"/api/v1/merchants/{shop.merchant_id}/analytics/overview"
    assert client.get(url, headers=other).status_code == 404  # not even that it exists
    assert client.get(url).status_code == 401
    own = client.get(f"/api/v1/merchants/{r.json()['id']}/analytics/overview", params={"from": "2026-11-22", "to": "2026-11-26"}, headers=other).json()
    assert (own["gmv"], own["orders"], own["new_members"]) == (0, 0, 0)  # nothing of the first shop leaks in
    bad = client.get(url, params={"from": "2026-11-26", "to": "2026-11-22"}, headers=shop.owner)
    assert bad.status_code == 422 and problem_code(bad) == "analytics.bad_range"
    assert problem_code(client.get(url, params={"from": "2025-01-01", "to": "2026-11-22"}, headers=shop.owner)) == "analytics.bad_range"
    assert client.get(url, params={"from": "yesterday"}, headers=shop.owner).status_code == 422
    for far in ({"to": "0001-01-01"}, {"from": "9999-12-31"}, {"from": "1999-12-31", "to": "2000-01-02"}):
        r = client.get(url, params=far, headers=shop.owner)
        assert r.status_code == 422 and problem_code(r) == "analytics.bad_range", far
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/analytics/sharers", params={"sort": "name"}, headers=shop.owner).status_code == 422


def test_a_sharer_and_a_leader_see_their_own_figures(client, db, merchant, clock):
    shop, sharer_id = _week(client, db, merchant, clock)
    sharer = login(client, SHARER)
    me = client.get("/api/v1/me/dashboard", params={"merchant_id": shop.merchant_id}, headers=sharer).json()
    # Thursday 2026-11-26: the week began on Monday the 23rd (A's second box), the month on the 1st.
    assert (me["week_start"], me["month_start"]) == ("2026-11-23", "2026-11-01")
    assert [(x["gmv"], x["orders"]) for x in me["sharer"]["month"]] == [(13600, 2), (0, 0)]  # level 1: A's two boxes; nobody below
    assert [(x["gmv"], x["orders"]) for x in me["sharer"]["week"]] == [(6800, 1), (0, 0)]
    assert me["sharer"]["invitees_total"] == 2
    assert [(i["phone_masked"], i["joined_day"], i["orders"], i["last_order_day"]) for i in me["sharer"]["invitees"]] == [
        ("135****0003", "2026-11-24", 0, None), ("135****0001", "2026-11-22", 2, "2026-11-25")]
    assert me["leader"] is None
    leader = client.get("/api/v1/me/dashboard", params={"merchant_id": shop.merchant_id}, headers=shop.leader).json()
    [c] = leader["leader"]["communities"]
    assert (c["name"], c["month"], c["week"], c["new_members_month"]) == ("云顶华府", {"gmv": 15590, "orders": 3}, {"gmv": 5800, "orders": 1}, 2)
    # The leader's share of the community's orders, by state, as commission keeps it.
    earned = client.get("/api/v1/me/earnings", params={"merchant_id": shop.merchant_id}, headers=shop.leader).json()
    money = leader["leader"]["money"]
    assert money["frozen"] == earned["frozen"] > 0 and money["available"] == earned["available"]
    # Pages: the sharer centre and the leader desk show the same figures.
    page_login(client, SHARER)
    page = client.get(f"/m/share/{shop.merchant_id}", headers=HTML)
    assert page.status_code == 200 and 'data-testid="sharer-performance"' in page.text and "135****0001" in page.text and "¥136.00" in page.text
    page_login(client, "13900000001")
    desk = client.get("/m/leader", headers=HTML)
    assert desk.status_code == 200 and 'data-testid="leader-figures"' in desk.text and "¥155.90" in desk.text


def test_the_console_dashboard_shows_the_figures_and_tables_without_javascript(client, db, merchant, clock):
    shop, _ = _week(client, db, merchant, clock)
    page_login(client, merchant.owner_phone, "console")
    r = client.get(f"/console/merchants/{shop.merchant_id}/analytics", params={"from": "2026-11-22", "to": "2026-11-26"}, headers=HTML)
    assert r.status_code == 200, r.text
    assert '<dd data-testid="fig-gmv">¥155.90</dd>' in r.text and 'data-testid="daily-chart"' in r.text
    assert r.text.count('data-testid="community-row"') == 1 and "136****0009" in r.text
    home = client.get(f"/console/merchants/{shop.merchant_id}", headers=HTML)
    assert 'data-testid="open-dashboard"' in home.text and "¥155.90" in home.text
    bad = client.get(f"/console/merchants/{shop.merchant_id}/analytics", params={"from": "2026-13-01"}, headers=HTML)
    assert bad.status_code == 422 and "2026-11-22" in bad.text  # the form again, with how to write a date


def test_cohorts_and_exports_show_the_screens_numbers(client, db, merchant, clock):
    shop, sharer_id = _week(client, db, merchant, clock)
    clock.advance(days=6)  # 2026-12-02: November has ended
    base = f"/api/v1/merchants/{shop.merchant_id}/analytics"
    cohorts = client.get(f"{base}/cohorts", params={"months": 2}, headers=shop.owner).json()
    assert [(c["month"], c["members"]) for c in cohorts] == [("2026-12-01", 0), ("2026-11-01", 2)]
    # A's two boxes and B's apples less the late refund, per member: (13,600 + 1,990) / 2.
    assert cohorts[1]["ltv"] == {"1": 7795, "3": None, "6": None, "12": None}
    week = {"from": "2026-11-22", "to": "2026-11-26"}
    screen = client.get(f"{base}/sharers", params=week, headers=shop.owner).json()
    r = client.get(f"{base}/export", params={**week, "report": "sharers", "format": "csv"}, headers=shop.owner)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="linli-' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows == [["id", "name", "gmv_yuan", "orders", "new_members", "refund_rate"], [str(sharer_id), "136****0009", "136.00", "2", "2", "0%"]]
    assert [int(rows[1][0]), int(rows[1][3])] == [screen[0]["id"], screen[0]["orders"]]
    daily = list(csv.reader(io.StringIO(client.get(f"{base}/export", params={**week, "report": "daily"}, headers=shop.owner).content.decode("utf-8-sig"))))
    assert daily[1:] == [["2026-11-22", "97.90", "2"], ["2026-11-23", "0.00", "0"], ["2026-11-24", "0.00", "0"], ["2026-11-25", "68.00", "1"], ["2026-11-26", "-10.00", "0"]]
    x = client.get(f"{base}/export", params={**week, "report": "communities", "format": "xlsx"}, headers=shop.owner)
    assert x.status_code == 200 and x.headers["content-type"] == exports.XLSX
    with zipfile.ZipFile(io.BytesIO(x.content)) as book:
        xml = "".join(book.read(n).decode() for n in book.namelist() if n.startswith("xl/worksheets/") or n == "xl/sharedStrings.xml")
    assert "云顶华府" in xml and "155.9" in xml
    # A name is never a formula in the reader's spreadsheet.
    assert client.patch("/api/v1/me", json={"nickname": "=HYPERLINK(1)"}, headers=shop.leader).status_code == 200
    leaders = list(csv.reader(io.StringIO(client.get(f"{base}/export", params={**week, "report": "leaders"}, headers=shop.owner).content.decode("utf-8-sig"))))
    assert leaders[1][1] == "'=HYPERLINK(1)"
    x = client.get(f"{base}/export", params={**week, "report": "leaders", "format": "xlsx"}, headers=shop.owner)
    with zipfile.ZipFile(io.BytesIO(x.content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet
    other = client.get(f"{base}/export", params={"report": "sharers"}, headers=login(client, "13500000001"))
    assert other.status_code == 404  # a customer is not staff
    assert client.get(f"{base}/export", params={"report": "orders"}, headers=shop.owner).status_code == 422


def test_an_order_through_a_sharers_link_uses_their_code_a_binding_alone_does_not(client, db, merchant, clock):
    """The K-factor's sharers are the members whose code was used: an order that came with a
    sharer's code counts them; A's later orders through the binding alone would not."""
    shop = make_shop(client, merchant)
    sharer = login(client, SHARER)
    sharer_id = client.get("/api/v1/me", headers=sharer).json()["id"]
    code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=sharer).json()["code"]
    d = login(client, "13500000004")  # came by themself: no binding
    o = buy(client, db, d, shop, [(shop.skus["berry"], 1)], invite_code=code)
    _receive(client, db, shop, o)
    day = {"from": "2026-11-22", "to": "2026-11-22"}
    overview = client.get(f"/api/v1/merchants/{shop.merchant_id}/analytics/overview", params=day, headers=shop.owner).json()
    # D's first received order came through the sharer's link: converted, though nobody was bound.
    assert overview["k_factor"] == {"value": "1.00", "invites_per_sharer": "0.00", "value_bp": 10000, "invites_per_sharer_bp": 0, "conversion_bp": 0,
                                    "sharers": 1, "invites": 0, "converted": 1}
    assert overview["distribution_gmv_share_bp"] == 10000
    [row] = client.get(f"/api/v1/merchants/{shop.merchant_id}/analytics/sharers", params=day, headers=shop.owner).json()
    assert (row["id"], row["gmv"], row["orders"], row["new_members"]) == (sharer_id, 6800, 1, 0)  # D was not bound: not the sharer's new member
