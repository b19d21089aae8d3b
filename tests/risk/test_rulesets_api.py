"""The merchant's risk rule set over the API: the defaults as version 0, new versions with
their history, refusals that change nothing, who may read and write it, Idempotency-Key,
and concurrent saves that each get their own version."""

from __future__ import annotations

import httpx
import pytest

from linli.risk import rule_set, rulesets
from tests.conftest import login, problem_code
from tests.e2e.conftest import LiveServer
from tests.orders.concurrency import together

OTHER_OWNER = "13800000009"


def _url(mid: int, tail: str = "") -> str:
    return f"/api/v1/merchants/{mid}/risk/rules{tail}"


def _version(client, merchant) -> int:
    r = client.get(_url(merchant.id), headers=merchant.owner)
    assert r.status_code == 200, r.text
    return r.json()["version"]


def test_the_defaults_are_version_0_with_every_knob(client, db, merchant):
    r = client.get(_url(merchant.id), headers=merchant.owner)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["merchant_id"], body["version"], body["created_at"], body["created_by"]) == (merchant.id, 0, None, None)
    assert body["values"] == rule_set.SPEC.defaults()
    assert body["values"]["cluster_min_members"] == 3 and body["values"]["refund_rate_max_bp"] == 3000
    assert client.get(_url(merchant.id, "/history"), headers=merchant.owner).json() == []


def test_each_put_is_a_new_version_and_the_history_says_who_changed_what(client, db, merchant, clock):
    owner_id = client.get("/api/v1/me", headers=merchant.owner).json()["id"]
    r = client.put(_url(merchant.id), json={"velocity_per_hour": 8, "cluster_enabled": False}, headers=merchant.owner)
    assert r.status_code == 200, r.text
    v1 = r.json()
    assert (v1["version"], v1["created_by"], v1["values"]["velocity_per_hour"], v1["values"]["cluster_enabled"]) == (1, owner_id, 8, False)
    assert v1["values"]["velocity_per_day"] == 20  # the knobs not given keep their values

    clock.advance(hours=1)
    r = client.put(_url(merchant.id), json={"hold_at": 60, "velocity_per_hour": 6}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["version"] == 2
    got = client.get(_url(merchant.id), headers=merchant.owner).json()
    assert (got["version"], got["values"]["hold_at"], got["values"]["velocity_per_hour"], got["values"]["cluster_enabled"]) == (2, 60, 6, False)
    assert got["created_at"].startswith("2026-11-22T03:00")

    history = client.get(_url(merchant.id, "/history"), headers=merchant.owner).json()
    assert [h["version"] for h in history] == [2, 1]
    assert history[0]["changes"] == [{"field": "velocity_per_hour", "old": 8, "new": 6}, {"field": "hold_at", "old": 70, "new": 60}]
    assert history[1]["changes"] == [{"field": "cluster_enabled", "old": True, "new": False}, {"field": "velocity_per_hour", "old": 5, "new": 8}]
    assert history[0]["created_by"] == owner_id and history[0]["created_by_nickname"]
    assert [h["version"] for h in client.get(_url(merchant.id, "/history"), params={"limit": 1}, headers=merchant.owner).json()] == [2]
    # The evaluation reads the version in force.
    with db.transaction() as s:
        rules = rulesets.current(s, merchant.id)
    assert (rules.version, rules["hold_at"], rules.on("cluster"), rules.on("velocity")) == (2, 60, False, True)


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"entry_fee": 100}, "risk.rules_invalid", "entry_fee"),
    ({"velocity_per_hour": 6, "no_such_rule": True}, "risk.rules_invalid", "no_such_rule"),
    ({"cluster_min_members": 1}, "risk.rules_invalid", "cluster_min_members"),
    ({"sla_days": 61}, "risk.rules_invalid", "sla_days"),
    ({"self_referral_score": 1001}, "risk.rules_invalid", "self_referral_score"),
    ({"hold_at": 100}, "risk.thresholds_order", "hold_at"),
    ({"review_at": 80}, "risk.thresholds_order", "hold_at"),
    ({"block_at": 70}, "risk.thresholds_order", "hold_at"),
])
def test_refusals_name_the_field_and_leave_the_version_unchanged(client, db, merchant, body, code, field):
    assert client.put(_url(merchant.id), json={"velocity_per_hour": 7}, headers=merchant.owner).status_code == 200
    r = client.put(_url(merchant.id), json=body, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == code, r.text
    assert r.json()["field"] == field
    assert _version(client, merchant) == 1
    assert client.get(_url(merchant.id), headers=merchant.owner).json()["values"]["velocity_per_hour"] == 7


def test_a_value_of_the_wrong_type_is_refused(client, db, merchant):
    for body in ({"velocity_per_hour": "6"}, {"velocity_per_hour": 6.5}, {"cluster_enabled": "yes"}, {"velocity_per_hour": True}, {"hold_at": 10**30}, {"review_at": None}):
        r = client.put(_url(merchant.id), json=body, headers=merchant.owner)
        assert r.status_code == 422, (body, r.text)
    for body in ([1, 2], "x"):
        assert client.put(_url(merchant.id), json=body, headers=merchant.owner).status_code == 422
    assert _version(client, merchant) == 0


def test_finance_staff_may_the_others_may_not(client, db, merchant, admin):
    mid = merchant.id
    for phone, role in (("13700000001", "finance"), ("13700000002", "operator"), ("13700000003", "service")):
        assert client.post(f"/api/v1/merchants/{mid}/staff", json={"phone": phone, "role": role}, headers=merchant.owner).status_code == 201
    finance = login(client, "13700000001")
    assert client.put(_url(mid), json={"sla_days": 5}, headers=finance).json()["version"] == 1
    assert client.get(_url(mid, "/history"), headers=finance).status_code == 200
    for phone in ("13700000002", "13700000003"):
        h = login(client, phone)
        for r in (client.get(_url(mid), headers=h), client.put(_url(mid), json={"sla_days": 3}, headers=h), client.get(_url(mid, "/history"), headers=h)):
            assert r.status_code == 403 and problem_code(r) == "auth.role_forbidden"
    # A member who is not staff, and the owner of another merchant: not found.
    other = client.post("/api/v1/merchants", json={"name": "别家", "owner_phone": OTHER_OWNER}, headers=admin)
    assert other.status_code == 201
    for h in (login(client, "13700000009"), login(client, OTHER_OWNER)):
        for r in (client.get(_url(mid), headers=h), client.put(_url(mid), json={"sla_days": 3}, headers=h), client.get(_url(mid, "/history"), headers=h)):
            assert r.status_code == 404 and problem_code(r) == "merchant.not_found"
    assert client.get(_url(mid), headers={}).status_code == 401
    assert _version(client, merchant) == 1
    # The other merchant's own rules are its own.
    assert client.get(_url(other.json()["id"]), headers=login(client, OTHER_OWNER)).json()["version"] == 0


def test_a_retried_put_with_the_same_key_saves_once(client, db, merchant):
    h = {**merchant.owner, "Idempotency-Key": "risk-1"}
    first = client.put(_url(merchant.id), json={"snooze_days": 30}, headers=h)
    again = client.put(_url(merchant.id), json={"snooze_days": 30}, headers=h)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert _version(client, merchant) == 1
    r = client.put(_url(merchant.id), json={"snooze_days": 31}, headers=h)
    assert r.status_code == 409 and problem_code(r) == "idempotency.key_reused"
    assert _version(client, merchant) == 1


def test_concurrent_saves_each_get_their_own_version(app, client, db, merchant):
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            results = together(8, lambda i: http.put(_url(merchant.id), json={"sla_days": i + 1}, headers=merchant.owner))
    finally:
        server.stop()
    ok = [r.json()["version"] for r in results if r.status_code == 200]
    assert all(r.status_code == 200 or (r.status_code == 409 and problem_code(r) == "risk.rules_conflict") for r in results)
    assert sorted(ok) == list(range(1, len(ok) + 1)) and ok
    history = client.get(_url(merchant.id, "/history"), headers=merchant.owner).json()
    assert [h["version"] for h in history] == sorted(ok, reverse=True)
