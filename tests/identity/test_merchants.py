"""Merchants (tenants) and their staff: who may create what, and tenant isolation."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN, login, problem_code

API = "/api/v1"


def create_merchant(client, admin, name: str, owner_phone: str) -> dict:
    r = client.post(f"{API}/merchants", json={"name": name, "owner_phone": owner_phone}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


def staff_list(client, mid: int, headers) -> list[dict]:
    r = client.get(f"{API}/merchants/{mid}/staff", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def add_staff(client, mid: int, headers, phone: str, role: str):
    return client.post(f"{API}/merchants/{mid}/staff", json={"phone": phone, "role": role}, headers=headers)


def test_admin_creates_merchant_and_owner_becomes_staff(client, admin):
    body = create_merchant(client, admin, "  优邻  优选 ", "+86 138 0000 0001")
    assert body["name"] == "优邻 优选"
    assert body["role"] == "owner" and body["status"] == "active"
    owner = login(client, "13800000001")
    me = client.get(f"{API}/me", headers=owner).json()
    assert me["id"] == body["owner_member_id"]
    assert me["staff_of"] == [{"merchant_id": body["id"], "name": "优邻 优选", "role": "owner"}]
    staff = staff_list(client, body["id"], owner)
    assert [(s["member_id"], s["role"], s["phone_masked"]) for s in staff] == [(body["owner_member_id"], "owner", "138****0001")]
    assert client.get(f"{API}/merchants/{body['id']}", headers=owner).json()["role"] == "owner"
    # The admin sees every merchant, as admin.
    assert [(m["id"], m["role"]) for m in client.get(f"{API}/merchants", headers=admin).json()] == [(body["id"], "admin")]


def test_merchant_name_must_be_unique_and_sensible(client, admin):
    create_merchant(client, admin, "优邻优选", "13800000001")
    r = client.post(f"{API}/merchants", json={"name": "优邻优选", "owner_phone": "13800000002"}, headers=admin)
    assert r.status_code == 409 and problem_code(r) == "merchant.name_taken"
    r = client.post(f"{API}/merchants", json={"name": "   ", "owner_phone": "13800000002"}, headers=admin)
    assert r.status_code == 422 and problem_code(r) == "merchant.name_invalid"
    r = client.post(f"{API}/merchants", json={"name": "新店", "owner_phone": "123"}, headers=admin)
    assert r.status_code == 422 and problem_code(r) == "identity.phone_invalid"
    assert len(client.get(f"{API}/merchants", headers=admin).json()) == 1


def test_only_platform_admins_create_merchants(client, admin):
    member = login(client, "13900001111")
    r = client.post(f"{API}/merchants", json={"name": "我的小店", "owner_phone": "13900001111"}, headers=member)
    assert r.status_code == 403 and problem_code(r) == "auth.admin_only"
    assert client.get(f"{API}/merchants", headers=admin).json() == []
    r = client.post(f"{API}/merchants", json={"name": "我的小店", "owner_phone": "13900001111"})
    assert r.status_code == 401


@pytest.mark.parametrize("role", ["owner", "operator", "finance", "service"])
def test_owner_adds_staff_with_each_role(client, merchant, role):
    r = add_staff(client, merchant.id, merchant.owner, "13800000002", role)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["role"] == role and body["merchant_id"] == merchant.id and body["phone_masked"] == "138****0002"
    assert "phone" not in body  # staff lists never show whole phone numbers
    staff = login(client, "13800000002")
    assert client.get(f"{API}/me", headers=staff).json()["staff_of"] == [{"merchant_id": merchant.id, "name": "优邻优选", "role": role}]
    assert client.get(f"{API}/merchants/{merchant.id}", headers=staff).json()["role"] == role


def test_add_staff_refuses_bad_input(client, merchant):
    r = add_staff(client, merchant.id, merchant.owner, "13800000002", "boss")
    assert r.status_code == 422 and problem_code(r) == "staff.role_invalid"
    r = add_staff(client, merchant.id, merchant.owner, "1380000000", "operator")
    assert r.status_code == 422 and problem_code(r) == "identity.phone_invalid"
    assert add_staff(client, merchant.id, merchant.owner, "13800000002", "operator").status_code == 201
    r = add_staff(client, merchant.id, merchant.owner, "+86 13800000002", "finance")
    assert r.status_code == 409 and problem_code(r) == "staff.exists"
    r = add_staff(client, merchant.id, merchant.owner, merchant.owner_phone, "service")
    assert r.status_code == 409 and problem_code(r) == "staff.exists"
    assert sorted(s["role"] for s in staff_list(client, merchant.id, merchant.owner)) == ["operator", "owner"]


def test_unknown_merchant_is_404(client, admin, merchant):
    for headers in (admin, merchant.owner):
        r = client.get(f"{API}/merchants/999", headers=headers)
        assert r.status_code == 404 and problem_code(r) == "merchant.not_found"
        r = add_staff(client, 999, headers, "13800000002", "operator")
        assert r.status_code == 404 and problem_code(r) == "merchant.not_found"
        assert problem_code(client.get(f"{API}/merchants/999/communities", headers=headers)) == "merchant.not_found"


@pytest.fixture
def two_merchants(client, admin):
    """Merchant A (owner 13800000001) and B (owner 13800000011), each with a community."""
    a = create_merchant(client, admin, "甲店", "13800000001")
    b = create_merchant(client, admin, "乙店", "13800000011")
    owner_a, owner_b = login(client, "13800000001"), login(client, "13800000011")
    for m, h in ((a, owner_a), (b, owner_b)):
        r = client.post(f"{API}/merchants/{m['id']}/communities", json={"name": "云顶华府", "city": "杭州", "lat": 30.27, "lng": 120.15}, headers=h)
        assert r.status_code == 201, r.text
        m["community_id"] = r.json()["id"]
    assert add_staff(client, b["id"], owner_b, "13800000012", "operator").status_code == 201
    return a, b, owner_a, owner_b


def test_staff_of_one_merchant_cannot_see_or_change_another(client, two_merchants):
    a, b, owner_a, owner_b = two_merchants
    b_staff = staff_list(client, b["id"], owner_b)
    b_communities = client.get(f"{API}/merchants/{b['id']}/communities", headers=owner_b).json()
    bid, bcid = b["id"], b["community_id"]
    operator_b = next(s for s in b_staff if s["role"] == "operator")
    member = login(client, "13900001111")
    member_id = client.get(f"{API}/me", headers=member).json()["id"]

    attempts = [
        ("get", f"/merchants/{bid}", None),
        ("get", f"/merchants/{bid}/staff", None),
        ("post", f"/merchants/{bid}/staff", {"phone": "13900001111", "role": "owner"}),
        ("patch", f"/merchants/{bid}/staff/{operator_b['id']}", {"role": "owner"}),
        ("delete", f"/merchants/{bid}/staff/{operator_b['id']}", None),
        ("get", f"/merchants/{bid}/communities", None),
        ("post", f"/merchants/{bid}/communities", {"name": "翠苑一区", "city": "杭州", "lat": 30.29, "lng": 120.12}),
        ("get", f"/merchants/{bid}/communities/{bcid}", None),
        ("patch", f"/merchants/{bid}/communities/{bcid}", {"name": "被改名"}),
        ("post", f"/merchants/{bid}/communities/{bcid}/pickup-points", {"name": "驿站", "address": "东门", "lat": 30.27, "lng": 120.15}),
        ("put", f"/merchants/{bid}/communities/{bcid}/leader", {"member_id": member_id}),
    ]
    for method, path, body in attempts:
        kwargs = {"headers": owner_a} | ({"json": body} if body is not None else {})
        r = client.request(method.upper(), API + path, **kwargs)
        assert r.status_code == 404, (method, path, r.text)
        assert problem_code(r) == "merchant.not_found", (method, path)

    # Through A's own merchant id, B's rows are not found either.
    aid = a["id"]
    r = client.patch(f"{API}/merchants/{aid}/staff/{operator_b['id']}", json={"role": "finance"}, headers=owner_a)
    assert r.status_code == 404 and problem_code(r) == "staff.not_found"
    r = client.delete(f"{API}/merchants/{aid}/staff/{operator_b['id']}", headers=owner_a)
    assert r.status_code == 404 and problem_code(r) == "staff.not_found"
    for method, path, body in [
        ("get", f"/merchants/{aid}/communities/{bcid}", None),
        ("patch", f"/merchants/{aid}/communities/{bcid}", {"name": "被改名"}),
        ("post", f"/merchants/{aid}/communities/{bcid}/pickup-points", {"name": "驿站", "address": "东门", "lat": 30.27, "lng": 120.15}),
        ("put", f"/merchants/{aid}/communities/{bcid}/leader", {"member_id": member_id}),
    ]:
        r = client.request(method.upper(), API + path, headers=owner_a, **({"json": body} if body else {}))
        assert r.status_code == 404 and problem_code(r) == "community.not_found", (method, path, r.text)

    # Nothing of B changed, and A's own list shows only A's community.
    assert staff_list(client, bid, owner_b) == b_staff
    assert client.get(f"{API}/merchants/{bid}/communities", headers=owner_b).json() == b_communities
    assert [c["id"] for c in client.get(f"{API}/merchants/{aid}/communities", headers=owner_a).json()] == [a["community_id"]]
    assert [m["merchant_id"] for m in client.get(f"{API}/me", headers=owner_a).json()["staff_of"]] == [aid]


def test_plain_member_gets_404_on_staff_endpoints(client, merchant):
    member = login(client, "13900001111")
    mid = merchant.id
    for method, path, body in [
        ("get", f"/merchants/{mid}", None),
        ("get", f"/merchants/{mid}/staff", None),
        ("post", f"/merchants/{mid}/staff", {"phone": "13900001111", "role": "owner"}),
        ("get", f"/merchants/{mid}/communities", None),
        ("post", f"/merchants/{mid}/communities", {"name": "翠苑一区", "city": "杭州", "lat": 30.29, "lng": 120.12}),
    ]:
        r = client.request(method.upper(), API + path, headers=member, **({"json": body} if body else {}))
        assert r.status_code == 404 and problem_code(r) == "merchant.not_found", (method, path)
    assert client.get(f"{API}/merchants", headers=member).json() == []
    assert len(staff_list(client, mid, merchant.owner)) == 1


def test_roles_limit_what_staff_may_do(client, merchant):
    mid = merchant.id
    for phone, role in [("13800000002", "operator"), ("13800000003", "finance"), ("13800000004", "service")]:
        assert add_staff(client, mid, merchant.owner, phone, role).status_code == 201
    operator, finance, service = login(client, "13800000002"), login(client, "13800000003"), login(client, "13800000004")
    # Only the owner manages staff.
    for headers in (operator, finance, service):
        r = add_staff(client, mid, headers, "13800000009", "owner")
        assert r.status_code == 403 and problem_code(r) == "auth.role_forbidden"
        assert r.json()["required"] == "manage_staff"
        staff_id = staff_list(client, mid, headers)[0]["id"]  # every role may look
        r = client.patch(f"{API}/merchants/{mid}/staff/{staff_id}", json={"role": "service"}, headers=headers)
        assert r.status_code == 403 and problem_code(r) == "auth.role_forbidden"
    # Operators run communities; finance and service staff do not.
    community = {"name": "云顶华府", "city": "杭州", "lat": 30.27, "lng": 120.15}
    for headers in (finance, service):
        r = client.post(f"{API}/merchants/{mid}/communities", json=community, headers=headers)
        assert r.status_code == 403 and problem_code(r) == "auth.role_forbidden"
    assert client.get(f"{API}/merchants/{mid}/communities", headers=finance).json() == []
    assert client.post(f"{API}/merchants/{mid}/communities", json=community, headers=operator).status_code == 201
    assert len(staff_list(client, mid, merchant.owner)) == 4


def test_owner_changes_and_removes_staff(client, merchant):
    mid = merchant.id
    staff_id = add_staff(client, mid, merchant.owner, "13800000002", "service").json()["id"]
    r = client.patch(f"{API}/merchants/{mid}/staff/{staff_id}", json={"role": "operator"}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["role"] == "operator"
    r = client.patch(f"{API}/merchants/{mid}/staff/{staff_id}", json={"role": "janitor"}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "staff.role_invalid"
    ex_staff = login(client, "13800000002")
    assert client.get(f"{API}/merchants/{mid}", headers=ex_staff).status_code == 200
    assert client.delete(f"{API}/merchants/{mid}/staff/{staff_id}", headers=merchant.owner).status_code == 204
    # Gone: the former staff member no longer sees the merchant at all.
    r = client.get(f"{API}/merchants/{mid}", headers=ex_staff)
    assert r.status_code == 404 and problem_code(r) == "merchant.not_found"
    r = client.delete(f"{API}/merchants/{mid}/staff/{staff_id}", headers=merchant.owner)
    assert r.status_code == 404 and problem_code(r) == "staff.not_found"


def test_last_owner_cannot_be_removed_or_demoted(client, merchant, admin):
    mid = merchant.id
    owner_staff = staff_list(client, mid, merchant.owner)[0]
    for headers in (merchant.owner, admin):
        r = client.patch(f"{API}/merchants/{mid}/staff/{owner_staff['id']}", json={"role": "operator"}, headers=headers)
        assert r.status_code == 409 and problem_code(r) == "staff.last_owner"
        r = client.delete(f"{API}/merchants/{mid}/staff/{owner_staff['id']}", headers=headers)
        assert r.status_code == 409 and problem_code(r) == "staff.last_owner"
    # With a second owner, the first may step down; then the second is the last one.
    second = add_staff(client, mid, merchant.owner, "13800000002", "owner").json()
    r = client.patch(f"{API}/merchants/{mid}/staff/{owner_staff['id']}", json={"role": "finance"}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["role"] == "finance"
    second_h = login(client, "13800000002")
    r = client.delete(f"{API}/merchants/{mid}/staff/{second['id']}", headers=second_h)
    assert r.status_code == 409 and problem_code(r) == "staff.last_owner"
    assert sorted(s["role"] for s in staff_list(client, mid, second_h)) == ["finance", "owner"]


def test_platform_admin_acts_as_owner_everywhere(client, admin, merchant):
    r = add_staff(client, merchant.id, admin, "13800000002", "operator")
    assert r.status_code == 201
    assert client.get(f"{API}/merchants/{merchant.id}", headers=admin).json()["role"] == "admin"
    assert client.get(f"{API}/me", headers=admin).json()["is_platform_admin"] is True
    assert client.get(f"{API}/me", headers=merchant.owner).json()["is_platform_admin"] is False
    assert ADMIN == "13800000000"
