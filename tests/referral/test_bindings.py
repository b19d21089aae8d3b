import pytest

from linli import events
from linli.referral import service as referral
from tests.conftest import login, problem_code
from tests.orders.helpers import buy, make_shop


def _me(client, h) -> int:
    return client.get("/api/v1/me", headers=h).json()["id"]


def _code(client, h, mid) -> str:
    r = client.get("/api/v1/me/invite", params={"merchant_id": mid}, headers=h)
    assert r.status_code == 200, r.text
    return r.json()["code"]


def _configure(db, mid, **kw):
    args = dict(bind_mode="first_touch", protection_days=30, sharer_mode="everyone_after_purchase", spend_threshold=0)
    args.update(kw)
    with db.transaction() as s:
        referral.configure(s, mid, **args)


@pytest.mark.parametrize("path", ["/api/v1/me/poster", "/api/v1/me/invite", "/api/v1/me/binding", "/api/v1/me/sharer", "/api/v1/me/team"])
@pytest.mark.parametrize("merchant_id", [2**63, 0, -1])
def test_member_views_refuse_merchant_ids_out_of_range(client, merchant, path, merchant_id):
    """Found by the fuzzer: /me/poster?merchant_id=2^63 was a 500 (the driver overflowed)."""
    r = client.get(path, params={"merchant_id": merchant_id}, headers=login(client, "13700000001"))
    assert r.status_code == 422 and problem_code(r) == "validation.invalid"


def test_invite_code_and_link_are_stable(client, merchant):
    a = login(client, "13700000001")
    r1 = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id}, headers=a).json()
    r2 = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id}, headers=a).json()
    assert r1 == r2 and len(r1["code"]) == 8 and r1["link"].endswith(f"/i/{r1['code']}")


def test_new_member_logging_in_with_a_code_is_bound(client, db, merchant):
    a = login(client, "13700000001")
    code = _code(client, a, merchant.id)
    b = login(client, "13700000002", invite_code=code)
    events.drain(db)
    got = client.get("/api/v1/me/binding", params={"merchant_id": merchant.id}, headers=b).json()
    assert got == {"merchant_id": merchant.id, "inviter_id": _me(client, a), "bound": True}
    team = client.get("/api/v1/me/team", params={"merchant_id": merchant.id}, headers=a).json()
    assert [(t["member_id"], t["level"]) for t in team] == [(_me(client, b), 1)]


def test_binding_refusals_change_nothing(client, db, merchant):
    a, b, c = (login(client, f"1370000000{i}") for i in (1, 2, 3))
    url = f"/api/v1/merchants/{merchant.id}/bindings"
    ca, cb, cc = (_code(client, h, merchant.id) for h in (a, b, c))
    assert problem_code(client.post(url, json={"invite_code": ca}, headers=a)) == "binding.self"
    assert client.post(url, json={"invite_code": ca}, headers=b).status_code == 200  # a → b
    assert client.post(url, json={"invite_code": cb}, headers=c).status_code == 200  # b → c
    r = client.post(url, json={"invite_code": cc}, headers=a)  # c → a would close a cycle
    assert r.status_code == 409 and problem_code(r) == "binding.cycle"
    cd = _code(client, login(client, "13700000004"), merchant.id)
    r = client.post(url, json={"invite_code": cd}, headers=b)  # first_touch: b stays with a
    assert r.status_code == 409 and problem_code(r) == "binding.exists"
    assert problem_code(client.post(url, json={"invite_code": "ZZZZZZZZ"}, headers=b)) in ("invite.code_unknown",)
    assert client.get("/api/v1/me/binding", params={"merchant_id": merchant.id}, headers=b).json()["inviter_id"] == _me(client, a)
    assert client.get("/api/v1/me/binding", params={"merchant_id": merchant.id}, headers=a).json()["bound"] is False


def test_disabled_code_and_protected_rebinding(client, db, merchant, clock):
    _configure(db, merchant.id, bind_mode="protected", protection_days=30)
    a, b, c = (login(client, f"1370000000{i}") for i in (1, 2, 3))
    url = f"/api/v1/merchants/{merchant.id}/bindings"
    ca, cb = _code(client, a, merchant.id), _code(client, b, merchant.id)
    assert client.post(url, json={"invite_code": ca}, headers=c).status_code == 200
    assert problem_code(client.post(url, json={"invite_code": cb}, headers=c)) == "binding.exists"
    clock.advance(days=31)
    assert client.post(url, json={"invite_code": cb}, headers=c).status_code == 200
    assert client.get("/api/v1/me/binding", params={"merchant_id": merchant.id}, headers=c).json()["inviter_id"] == _me(client, b)
    with db.transaction() as s:
        from linli.identity.service import Principal

        referral.set_code_enabled(s, Principal(0, "13800000000", True), merchant.id, ca, False)
    d = login(client, "13700000004")
    assert problem_code(client.post(url, json={"invite_code": ca}, headers=d)) == "invite.code_unknown"


def test_sharer_after_first_received_order(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    url = f"/api/v1/merchants/{merchant.id}/sharer"
    r = client.post(url, headers=buyer)
    assert r.status_code == 409 and problem_code(r) == "sharer.not_eligible"
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    events.drain(db)  # order.received → promoted automatically (零门槛)
    assert client.get("/api/v1/me/sharer", params={"merchant_id": merchant.id}, headers=buyer).json()["status"] == "active"
    assert client.post(url, headers=buyer).json()["status"] == "active"


def test_approval_mode_and_staff_desk(client, db, merchant):
    _configure(db, merchant.id, sharer_mode="approval")
    m = login(client, "13700000001")
    assert client.post(f"/api/v1/merchants/{merchant.id}/sharer", headers=m).json()["status"] == "applied"
    mid = _me(client, m)
    desk = f"/api/v1/merchants/{merchant.id}/sharers"
    assert [r["member_id"] for r in client.get(desk, params={"status": "applied"}, headers=merchant.owner).json()] == [mid]
    assert client.post(f"{desk}/{mid}/approve", headers=merchant.owner).json()["status"] == "active"
    assert client.post(f"{desk}/{mid}/suspend", json={"note": "刷单嫌疑"}, headers=merchant.owner).json()["status"] == "suspended"
    r = client.post(f"/api/v1/merchants/{merchant.id}/sharer", headers=m)
    assert r.status_code == 403 and problem_code(r) == "sharer.suspended"
    assert problem_code(client.post(f"{desk}/{mid}/approve", headers=merchant.owner)) == "sharer.bad_state"
    assert client.post(f"{desk}/{mid}/suspend", headers=m).status_code == 404  # members are not staff
    assert client.post(f"{desk}", json={"phone": "13700000009"}, headers=merchant.owner).json()["status"] == "active"


def test_poster_qr_decodes_to_the_invite_link(client, merchant):
    import io

    import zxingcpp
    from PIL import Image

    shop_product = client.post(f"/api/v1/merchants/{merchant.id}/products", json={"name": "黄金奶油草莓", "category": "水果", "skus": [{"name": "1盒", "price": 6800, "stock": 5}]}, headers=merchant.owner).json()
    a = login(client, "13700000001")
    invite = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id}, headers=a).json()
    r = client.get("/api/v1/me/poster", params={"merchant_id": merchant.id, "product_id": shop_product["id"]}, headers=a)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    assert img.size == (750, 1334)
    assert [d.text for d in zxingcpp.read_barcodes(img)] == [f"{invite['link']}?p={shop_product['id']}"]
    # The poster's text is drawn in a CJK font: the title area is not blank.
    assert len(set(img.crop((40, 830, 710, 890)).getdata())) > 2


def test_leaders_get_campaign_codes(client, db, merchant):
    shop = make_shop(client, merchant)
    r = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id, "campaign_id": 7}, headers=shop.leader)
    assert r.status_code == 200
    personal = _code(client, shop.leader, merchant.id)
    assert r.json()["code"] != personal
    assert client.get("/api/v1/me/invite", params={"merchant_id": merchant.id, "campaign_id": 7}, headers=shop.leader).json()["code"] == r.json()["code"]
    other = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id, "campaign_id": 7}, headers=login(client, "13700000005"))
    assert other.status_code == 403 and problem_code(other) == "invite.leaders_only"
