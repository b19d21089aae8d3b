"""Communities (小区), pickup points and leaders: the merchant console's set-up and what
members see when they pick their community."""

from __future__ import annotations

from sqlalchemy import select

from linli.events import OutboxEvent
from tests.conftest import login, problem_code

API = "/api/v1"
YUNDING = {"name": "云顶华府", "city": "杭州", "lat": 30.274085, "lng": 120.155070}
CUIYUAN = {"name": "翠苑一区", "city": "杭州", "lat": 30.290501, "lng": 120.129213}


def create(client, merchant, body=YUNDING):
    r = client.post(f"{API}/merchants/{merchant.id}/communities", json=body, headers=merchant.owner)
    assert r.status_code == 201, r.text
    return r.json()


def add_point(client, merchant, cid, **over):
    body = {"name": "东门驿站", "address": "云顶华府东门 3 号商铺", "lat": 30.2749, "lng": 120.1557} | over
    return client.post(f"{API}/merchants/{merchant.id}/communities/{cid}/pickup-points", json=body, headers=merchant.owner)


def test_create_community(client, merchant):
    body = create(client, merchant, {"name": "  云顶  华府 ", "city": " 杭州", "lat": 30.27408512345, "lng": 120.1550704999})
    assert body["merchant_id"] == merchant.id
    assert (body["name"], body["city"]) == ("云顶 华府", "杭州")
    assert (body["lat"], body["lng"]) == (30.274085, 120.15507)
    assert body["leader_member_id"] is None and body["pickup_points"] == []
    listed = client.get(f"{API}/merchants/{merchant.id}/communities", headers=merchant.owner).json()
    assert [c["id"] for c in listed] == [body["id"]]
    assert client.get(f"{API}/merchants/{merchant.id}/communities/{body['id']}", headers=merchant.owner).json() == body


def test_duplicate_community_is_409(client, merchant, admin):
    create(client, merchant)
    r = client.post(f"{API}/merchants/{merchant.id}/communities", json=YUNDING | {"name": " 云顶华府 "}, headers=merchant.owner)
    assert r.status_code == 409 and problem_code(r) == "community.exists"
    # The same name in another city, or for another merchant, is a different community.
    assert client.post(f"{API}/merchants/{merchant.id}/communities", json=YUNDING | {"city": "苏州"}, headers=merchant.owner).status_code == 201
    other = client.post(f"{API}/merchants", json={"name": "乙店", "owner_phone": "13800000011"}, headers=admin).json()
    assert client.post(f"{API}/merchants/{other['id']}/communities", json=YUNDING, headers=admin).status_code == 201
    assert len(client.get(f"{API}/merchants/{merchant.id}/communities", headers=merchant.owner).json()) == 2


def test_bad_coordinates_and_names_are_422(client, merchant):
    url = f"{API}/merchants/{merchant.id}/communities"
    for lat, lng in [(90.5, 120), (-91, 120), (30, 180.01), (30, -181)]:
        r = client.post(url, json=YUNDING | {"lat": lat, "lng": lng}, headers=merchant.owner)
        assert r.status_code == 422 and problem_code(r) == "validation.invalid", (lat, lng)
    for bad in ["NaN", "Infinity", "north", None]:
        r = client.post(url, json=YUNDING | {"lat": bad}, headers=merchant.owner)
        assert r.status_code == 422, bad
    r = client.post(url, json=YUNDING | {"name": "   "}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "community.name_invalid"
    r = client.post(url, json=YUNDING | {"city": ""}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "community.city_invalid"
    r = client.post(url, json=YUNDING | {"name": "云" * 61}, headers=merchant.owner)
    assert r.status_code == 422
    assert client.get(url, headers=merchant.owner).json() == []


def test_pickup_points(client, merchant):
    c = create(client, merchant)
    r = add_point(client, merchant, c["id"])
    assert r.status_code == 201, r.text
    point = r.json()
    assert point["community_id"] == c["id"] and point["active"] is True and point["name"] == "东门驿站"
    assert add_point(client, merchant, c["id"], name="南门快递柜", address="南门物业中心").status_code == 201
    got = client.get(f"{API}/merchants/{merchant.id}/communities/{c['id']}", headers=merchant.owner).json()
    assert [p["name"] for p in got["pickup_points"]] == ["东门驿站", "南门快递柜"]
    listed = client.get(f"{API}/merchants/{merchant.id}/communities", headers=merchant.owner).json()
    assert [p["id"] for p in listed[0]["pickup_points"]] == [p["id"] for p in got["pickup_points"]]


def test_pickup_point_bad_input(client, merchant):
    c = create(client, merchant)
    r = add_point(client, merchant, c["id"], address="   ")
    assert r.status_code == 422 and problem_code(r) == "community.address_invalid"
    r = add_point(client, merchant, c["id"], lat=95)
    assert r.status_code == 422
    r = add_point(client, merchant, c["id"], phone="13900001111")
    assert r.status_code == 422 and problem_code(r) == "validation.unknown_field"
    r = add_point(client, merchant, 999)
    assert r.status_code == 404 and problem_code(r) == "community.not_found"
    got = client.get(f"{API}/merchants/{merchant.id}/communities/{c['id']}", headers=merchant.owner).json()
    assert got["pickup_points"] == []


def test_set_leader(client, merchant, db):
    c = create(client, merchant)
    leader = login(client, "13900000001")
    leader_id = client.get(f"{API}/me", headers=leader).json()["id"]
    url = f"{API}/merchants/{merchant.id}/communities/{c['id']}/leader"
    r = client.put(url, json={"member_id": leader_id}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["leader_member_id"] == leader_id
    me = client.get(f"{API}/me", headers=leader).json()
    assert [x["id"] for x in me["leads"]] == [c["id"]]
    # Setting the same leader again changes nothing and announces nothing new.
    assert client.put(url, json={"member_id": leader_id}, headers=merchant.owner).status_code == 200
    with db.transaction() as s:
        changes = list(s.scalars(select(OutboxEvent).where(OutboxEvent.name == "community.leader_changed")))
    assert [(e.payload["leader_member_id"], e.merchant_id) for e in changes] == [(leader_id, merchant.id)]
    # Unknown members are refused, and the leader stays.
    r = client.put(url, json={"member_id": 999999}, headers=merchant.owner)
    assert r.status_code == 404 and problem_code(r) == "member.not_found"
    r = client.put(url, json={"member_id": 0}, headers=merchant.owner)
    assert r.status_code == 422
    r = client.put(url, json={}, headers=merchant.owner)
    assert r.status_code == 422
    assert client.get(f"{API}/merchants/{merchant.id}/communities/{c['id']}", headers=merchant.owner).json()["leader_member_id"] == leader_id
    # null removes the leader.
    r = client.put(url, json={"member_id": None}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["leader_member_id"] is None
    assert client.get(f"{API}/me", headers=leader).json()["leads"] == []


def test_public_community_list_and_pickup_points(client, merchant, admin):
    a = create(client, merchant)
    b = create(client, merchant, CUIYUAN)
    s = create(client, merchant, YUNDING | {"city": "苏州", "name": "星河湾 100%"})
    other = client.post(f"{API}/merchants", json={"name": "乙店", "owner_phone": "13800000011"}, headers=admin).json()
    o = client.post(f"{API}/merchants/{other['id']}/communities", json=YUNDING, headers=admin).json()
    assert add_point(client, merchant, a["id"]).status_code == 201

    # No login needed: a new member picks their community before anything else.
    everything = client.get(f"{API}/communities").json()
    assert {c["id"] for c in everything} == {a["id"], b["id"], s["id"], o["id"]}
    assert set(everything[0]) == {"id", "merchant_id", "name", "city"}  # no leader, no coordinates
    mine = client.get(f"{API}/communities", params={"merchant_id": merchant.id}).json()
    assert {c["id"] for c in mine} == {a["id"], b["id"], s["id"]}
    hz = client.get(f"{API}/communities", params={"merchant_id": merchant.id, "city": "杭州"}).json()
    assert {c["name"] for c in hz} == {"云顶华府", "翠苑一区"}
    assert [c["id"] for c in client.get(f"{API}/communities", params={"q": "翠苑"}).json()] == [b["id"]]
    # LIKE wildcards in the search are literal.
    assert [c["id"] for c in client.get(f"{API}/communities", params={"q": "100%"}).json()] == [s["id"]]
    assert client.get(f"{API}/communities", params={"q": "%"}).json() == [{"id": s["id"], "merchant_id": merchant.id, "name": "星河湾 100%", "city": "苏州"}]
    assert client.get(f"{API}/communities", params={"q": "_"}).json() == []

    points = client.get(f"{API}/communities/{a['id']}/pickup-points").json()
    assert [p["name"] for p in points] == ["东门驿站"]
    assert client.get(f"{API}/communities/{b['id']}/pickup-points").json() == []
    r = client.get(f"{API}/communities/999/pickup-points")
    assert r.status_code == 404 and problem_code(r) == "community.not_found"


def test_member_chooses_home_community(client, merchant):
    c = create(client, merchant)
    h = login(client, "13900001111")
    r = client.patch(f"{API}/me", json={"community_id": c["id"]}, headers=h)
    assert r.status_code == 200 and r.json()["community"]["name"] == "云顶华府"


def test_patch_community(client, merchant):
    c = create(client, merchant)
    create(client, merchant, CUIYUAN)
    url = f"{API}/merchants/{merchant.id}/communities/{c['id']}"
    r = client.patch(url, json={"name": "云顶华府二期"}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["name"] == "云顶华府二期" and r.json()["city"] == "杭州"
    r = client.patch(url, json={"lat": 30.5, "lng": 120.5}, headers=merchant.owner)
    assert r.status_code == 200 and (r.json()["lat"], r.json()["lng"]) == (30.5, 120.5)
    # Renaming onto another community is a conflict; half a location is refused.
    r = client.patch(url, json={"name": "翠苑一区"}, headers=merchant.owner)
    assert r.status_code == 409 and problem_code(r) == "community.exists"
    r = client.patch(url, json={"lat": 31.0}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "community.location_invalid"
    r = client.patch(url, json={"name": ""}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "community.name_invalid"
    r = client.patch(url, json={"leader_member_id": 1}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "validation.unknown_field"
    # An empty patch changes nothing; an unknown community is 404.
    r = client.patch(url, json={}, headers=merchant.owner)
    assert r.status_code == 200
    got = client.get(url, headers=merchant.owner).json()
    assert (got["name"], got["lat"], got["lng"]) == ("云顶华府二期", 30.5, 120.5)
    r = client.patch(f"{API}/merchants/{merchant.id}/communities/999", json={"name": "x"}, headers=merchant.owner)
    assert r.status_code == 404 and problem_code(r) == "community.not_found"
