"""First access (社区推荐官's privilege): a campaign's ``early_access_minutes`` lets the members
the ``campaigns.ports.early_access`` port admits enter and buy that many minutes before the
start; everyone else sees the countdown and gets ``campaign.not_started``. These tests fill
the port themselves; the incentives domain fills it from its badges (tests/incentives/test_trials_first.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from linli import events
from linli.campaigns import ports
from tests.campaigns.helpers import add_offer, campaign_shop, create_campaign, iso, resident
from tests.campaigns.test_flash import PG, body_for, db_state, left, members, rush
from tests.conftest import login, problem_code
from tests.orders.helpers import order
from tests.web.conftest import HTML, csrf, errors, page_login


def _me(client, h) -> int:
    return client.get("/api/v1/me", headers=h).json()["id"]


def _early_session(client, merchant, clock, *, kind="live", quota=2, minutes=30, starts_in=timedelta(hours=1)):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c = create_campaign(client, shop, kind, clock.current, starts_in=starts_in, early_access_minutes=minutes)
    assert c["early_access_minutes"] == minutes and c["phase"] == "upcoming"
    offer = add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=5800, quota=quota)
    return shop, c, offer


def test_only_members_the_port_admits_buy_in_the_early_window_and_the_quota_holds(client, db, merchant, clock):
    shop, c, offer = _early_session(client, merchant, clock)
    h1, h2, h3 = (resident(client, f"1370000000{i}", shop.community_id) for i in (1, 2, 3))
    other = resident(client, "13700000009", shop.community_id)
    holders = {_me(client, h) for h in (h1, h2, h3)}
    berry = [(shop.skus["berry"], 1)]

    with ports.early_access.using(lambda s, merchant_id, member_id: merchant_id == shop.merchant_id and member_id in holders):
        # An hour before the start is before the 30-minute window, even for a holder.
        r = order(client, h1, shop, berry, campaign_id=c["id"])
        assert r.status_code == 409 and problem_code(r) == "campaign.not_started"
        assert client.get(f"/api/v1/campaigns/{c['id']}", headers=h1).json()["phase"] == "upcoming"

        clock.advance(minutes=31)  # 29 minutes before the start: the window is open
        mine = client.get(f"/api/v1/campaigns/{c['id']}", headers=h1).json()
        assert (mine["phase"], mine["early_access"], mine["seconds_to_start"]) == ("live", True, 29 * 60)
        theirs = client.get(f"/api/v1/campaigns/{c['id']}", headers=other).json()
        assert (theirs["phase"], theirs["early_access"]) == ("upcoming", False)
        r = order(client, other, shop, berry, campaign_id=c["id"])
        assert r.status_code == 409 and problem_code(r) == "campaign.not_started"
        assert order(client, h1, shop, berry, campaign_id=c["id"]).status_code == 201
        assert order(client, h2, shop, berry, campaign_id=c["id"]).status_code == 201
        r = order(client, h3, shop, berry, campaign_id=c["id"])  # the quota of 2 is gone, early or not
        assert r.status_code == 409 and problem_code(r) == "campaign.sold_out"
        assert db_state(db, offer["id"]) == (2, 2) and left(client, c) == 0

        clock.advance(minutes=30)  # the start: everyone may try, and the quota stays sold
        assert client.get(f"/api/v1/campaigns/{c['id']}", headers=other).json()["early_access"] is False
        r = order(client, other, shop, berry, campaign_id=c["id"])
        assert r.status_code == 409 and problem_code(r) == "campaign.sold_out"
    events.drain(db)


def test_as_wired_a_member_without_the_recommender_badge_is_not_early(client, db, merchant, clock):
    shop, c, _ = _early_session(client, merchant, clock)
    buyer = resident(client, "13700000001", shop.community_id)
    clock.advance(minutes=45)
    assert ports.early_access.filled  # by incentives, from its badges (tests/incentives/test_trials_first.py: a holder is early)
    assert client.get(f"/api/v1/campaigns/{c['id']}", headers=buyer).json()["phase"] == "upcoming"
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.not_started"


def test_the_live_page_lets_a_holder_buy_early_and_shows_others_the_countdown(client, db, merchant, clock):
    shop, c, _ = _early_session(client, merchant, clock)
    page_login(client, "13700000001")
    holder = _me(client, login(client, "13700000001"))
    clock.advance(minutes=40)
    with ports.early_access.using(lambda s, merchant_id, member_id: member_id == holder):
        page = client.get(f"/m/campaigns/{c['id']}", headers=HTML).text
        assert 'data-testid="early-access"' in page and 'data-testid="buy"' in page
        assert "你享有优先购资格" in page
        page_login(client, "13700000002")
        page = client.get(f"/m/campaigns/{c['id']}", headers=HTML).text
        assert 'data-testid="early-access"' not in page and 'data-testid="buy"' not in page
        assert "即将开始" in page and "距开始" in page


def test_a_group_buy_team_opened_early_is_joined_early_only_by_holders(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c = create_campaign(client, shop, "group_buy", clock.current, starts_in=timedelta(minutes=20), team_size=2, early_access_minutes=30)
    add_offer(client, shop, c["id"], sku_id=shop.skus["apple"], price=1990)
    opener, friend = login(client, "13700000001"), login(client, "13700000002")
    holder = _me(client, opener)
    with ports.early_access.using(lambda s, merchant_id, member_id: member_id == holder):
        r = order(client, opener, shop, [(shop.skus["apple"], 1)], campaign_id=c["id"])
        assert r.status_code == 201, r.text
        team_id = r.json()["team_id"]
        r = order(client, friend, shop, [(shop.skus["apple"], 1)], team_id=team_id)
        assert r.status_code == 409 and problem_code(r) == "campaign.not_started"
        clock.advance(minutes=20)
        assert order(client, friend, shop, [(shop.skus["apple"], 1)], team_id=team_id).status_code == 201


def test_many_holders_at_once_in_the_early_window_get_exactly_the_quota(app, client, db, settings, merchant, clock, no_gate):
    shop, c, offer = _early_session(client, merchant, clock, kind="flash_sale", quota=20, minutes=10, starts_in=timedelta(minutes=5))
    buyers = members(db, settings, clock, 120)
    with ports.early_access.using(lambda s, merchant_id, member_id: True):
        got = rush(app, buyers, body_for(shop, c), workers=24)
    assert [st for st, _ in got].count(201) == 20
    assert {code for st, code in got if st != 201} == {"campaign.sold_out"}
    assert db_state(db, offer["id"]) == (20, 20) and left(client, c) == 0


@PG
@pytest.mark.redis
def test_with_the_redis_gate_early_orders_skip_the_queue_and_never_oversell(app, client, db, settings, merchant, clock, gate):
    shop, c, offer = _early_session(client, merchant, clock, kind="flash_sale", quota=20, minutes=10, starts_in=timedelta(minutes=5))
    buyers = members(db, settings, clock, 120)
    outsider = login(client, "13700000009")
    outsider_id = _me(client, outsider)
    with ports.early_access.using(lambda s, merchant_id, member_id: member_id != outsider_id):
        r = order(client, outsider, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
        assert r.status_code == 409 and problem_code(r) == "campaign.not_started"
        got = rush(app, buyers, body_for(shop, c), workers=24)
    # Placed at once by checkout (201, no queue ticket), taken at the gate and in the database.
    assert [st for st, _ in got].count(201) == 20
    assert {code for st, code in got if st != 201} == {"campaign.sold_out"}
    assert db_state(db, offer["id"]) == (20, 20)


def test_the_setting_is_bounded_and_can_change_until_the_end(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    url = f"/api/v1/merchants/{shop.merchant_id}/campaigns"
    base = {"kind": "live", "title": "直播", "starts_at": iso(clock.current + timedelta(hours=1)), "ends_at": iso(clock.current + timedelta(hours=3))}
    for bad in (-1, 1441, 10**30):
        r = client.post(url, json={**base, "early_access_minutes": bad}, headers=shop.owner)
        assert r.status_code == 422 and problem_code(r) == "campaign.early_access_invalid", (bad, r.text)
    r = client.post(url, json={**base, "early_access_minutes": "soon"}, headers=shop.owner)
    assert r.status_code == 422 and problem_code(r) == "validation.invalid"
    c = client.post(url, json=base, headers=shop.owner).json()
    assert c["early_access_minutes"] == 0
    r = client.patch(f"{url}/{c['id']}", json={"early_access_minutes": 45}, headers=shop.owner)
    assert r.status_code == 200 and r.json()["early_access_minutes"] == 45
    r = client.patch(f"{url}/{c['id']}", json={"early_access_minutes": 1441}, headers=shop.owner)
    assert r.status_code == 422 and problem_code(r) == "campaign.early_access_invalid"
    r = client.patch(f"{url}/{c['id']}", json={"early_access_minutes": 10}, headers=login(client, "13700000001"))
    assert r.status_code == 404 and problem_code(r) == "merchant.not_found"  # not staff: the shop is not revealed
    r = client.patch(f"{url}/999999", json={"early_access_minutes": 10}, headers=shop.owner)
    assert r.status_code == 404 and problem_code(r) == "campaign.not_found"
    assert client.get(f"/api/v1/campaigns/{c['id']}").json()["early_access_minutes"] == 45
    clock.advance(hours=4)
    r = client.patch(f"{url}/{c['id']}", json={"early_access_minutes": 10}, headers=shop.owner)
    assert r.status_code == 409 and problem_code(r) == "campaign.closed"


def test_the_console_sets_early_access_on_create_and_on_the_campaign_page(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    mid = cs.shop.merchant_id
    page_login(client, merchant.owner_phone, area="console")
    form = {"csrf_token": csrf(client), "kind": "live", "title": "草莓直播", "starts_at": "2026-11-22T20:00", "ends_at": "2026-11-22T22:00", "early_access_minutes": "2000"}
    r = client.post(f"/console/merchants/{mid}/campaigns", data=form, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["优先购可设为开始前 0 至 1440 分钟（一天）。"]
    assert 'value="2000"' in r.text  # the form keeps what was typed
    r = client.post(f"/console/merchants/{mid}/campaigns", data={**form, "early_access_minutes": "abc"}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["优先购可设为开始前 0 至 1440 分钟（一天）。"]
    r = client.post(f"/console/merchants/{mid}/campaigns", data={**form, "early_access_minutes": "30"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    detail = r.headers["location"]
    cid = int(detail.rsplit("/", 1)[1])
    assert client.get(f"/api/v1/campaigns/{cid}").json()["early_access_minutes"] == 30
    assert "开始前 30 分钟" in client.get(detail, headers=HTML).text
    r = client.post(f"{detail}/early-access", data={"csrf_token": csrf(client), "early_access_minutes": "-5"}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["优先购可设为开始前 0 至 1440 分钟（一天）。"]
    r = client.post(f"{detail}/early-access", data={"csrf_token": csrf(client), "early_access_minutes": "90"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{detail}#early-access"
    assert client.get(f"/api/v1/campaigns/{cid}").json()["early_access_minutes"] == 90
    r = client.post(f"/console/merchants/{mid}/campaigns/999999/early-access", data={"csrf_token": csrf(client), "early_access_minutes": "5"}, headers=HTML)
    assert r.status_code == 404 and 'data-code="campaign.not_found"' in r.text


def test_a_full_team_s_page_offers_a_holder_a_new_team_before_the_start_and_others_not(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c = create_campaign(client, shop, "group_buy", clock.current, starts_in=timedelta(minutes=20), team_size=2, early_access_minutes=30)
    add_offer(client, shop, c["id"], sku_id=shop.skus["apple"], price=1990)
    a, b = login(client, "13700000001"), login(client, "13700000002")
    holders = {_me(client, a), _me(client, b), _me(client, login(client, "13700000003"))}
    with ports.early_access.using(lambda s, merchant_id, member_id: member_id in holders):
        r = order(client, a, shop, [(shop.skus["apple"], 1)], campaign_id=c["id"])
        assert r.status_code == 201, r.text
        team_id = r.json()["team_id"]
        assert order(client, b, shop, [(shop.skus["apple"], 1)], team_id=team_id).status_code == 201
        page_login(client, "13700000003")  # a holder who is not in the full team
        assert 'data-testid="open-team"' in client.get(f"/m/teams/{team_id}", headers=HTML).text
        page_login(client, "13700000009")  # no early access: the campaign has not started for them
        assert 'data-testid="open-team"' not in client.get(f"/m/teams/{team_id}", headers=HTML).text
