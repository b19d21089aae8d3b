from tests.conftest import login, problem_code


def test_member_sets_nickname_birthday_and_community(client, merchant):
    c = client.post(f"/api/v1/merchants/{merchant.id}/communities", json={"name": "云顶华府", "city": "杭州", "lat": 30.27, "lng": 120.15}, headers=merchant.owner).json()
    h = login(client, "13900001111")
    r = client.patch("/api/v1/me", json={"nickname": "  小 美 ", "birthday": "1990-05-20", "community_id": c["id"]}, headers=h)
    assert r.status_code == 200, r.text
    me = client.get("/api/v1/me", headers=h).json()
    assert me["nickname"] == "小 美"
    assert me["birthday"] == "1990-05-20"
    assert me["community_id"] == c["id"]
    assert me["community"]["name"] == "云顶华府"


def test_me_refuses_fields_it_does_not_own(client):
    h = login(client, "13900001111")
    before = client.get("/api/v1/me", headers=h).json()
    for body in [{"phone": "13900009999"}, {"role": "owner"}, {"level": 9}, {"balance": 100000}, {"nickname": "x", "is_platform_admin": True}]:
        r = client.patch("/api/v1/me", json=body, headers=h)
        assert r.status_code == 422 and problem_code(r) == "validation.unknown_field", body
    assert client.get("/api/v1/me", headers=h).json() == before


def test_me_bad_values(client):
    h = login(client, "13900001111")
    assert problem_code(client.patch("/api/v1/me", json={"birthday": "2999-01-01"}, headers=h)) == "identity.birthday_invalid"
    assert problem_code(client.patch("/api/v1/me", json={"nickname": "   "}, headers=h)) == "identity.nickname_invalid"
    assert problem_code(client.patch("/api/v1/me", json={"community_id": 99999}, headers=h)) == "community.not_found"
    assert problem_code(client.patch("/api/v1/me", json={"birthday": "not a date"}, headers=h)) == "validation.invalid"
