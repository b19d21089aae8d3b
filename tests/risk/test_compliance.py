"""Compliance refusals by construction (RULES.md, "Commission" and "Risk and compliance";
《禁止传销条例》): never more than 3 levels whatever the platform setting, never an entry fee,
and becoming a sharer never costs money.

Where the others are tested: rule sets over the platform's levels
(tests/commission/test_accrual.py::test_rule_sets_validated_and_versioned, 3 levels where
the platform allows 2; tests/commission/test_rules.py, 4 where it allows 3 — both
``commission.levels_over_max``); rewards for sign-ups, shares, clicks or group joins
(tests/incentives/test_bad_input.py and tests/incentives/test_rules.py,
``programme.rewards_signup``).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from linli.config import ConfigError, Settings
from tests.conftest import login, problem_code

FEE_KEYS = ["entry_fee", "join_fee", "sharer_fee", "membership_fee", "sharer_price", "joining_fee_fen", "entryFee", "registration_deposit"]


def _rules(mid: int) -> str:
    return f"/api/v1/merchants/{mid}/commission-rules"


# --- never more than 3 levels ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["4", "10"])
def test_a_platform_asking_for_more_than_3_levels_is_refused_at_start(monkeypatch, value):
    monkeypatch.setenv("LINLI_MAX_LEVELS", value)
    with pytest.raises(ConfigError, match="LINLI_MAX_LEVELS") as e:
        Settings()
    assert "禁止传销条例" in str(e.value)
    with pytest.raises(ConfigError):
        Settings(max_levels=int(value))
    monkeypatch.setenv("LINLI_MAX_LEVELS", "3")
    assert Settings().max_levels == 3
    monkeypatch.delenv("LINLI_MAX_LEVELS")
    assert Settings().max_levels == 2  # the default


@pytest.fixture
def client3(settings, db, clock):
    """The app of a platform that allows 3 levels, the most the law permits."""
    from linli.security import RateLimiter, parse_limits
    from linli.web.app import create_app
    from linli.web.context import AppContext

    three = settings.model_copy(update={"max_levels": 3})
    ctx = AppContext(settings=three, db=db, limiter=RateLimiter(parse_limits(three.rate_limits)), clock=clock)
    with TestClient(create_app(three, ctx=ctx, dispatcher=False), raise_server_exceptions=False) as c:
        yield c


def test_four_levels_are_refused_even_where_the_platform_allows_three(client3, db, merchant):
    r = client3.put(_rules(merchant.id), json={"levels": 4, "rates_bp": [1000, 500, 100, 100]}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "commission.levels_over_max"
    assert client3.get(_rules(merchant.id), headers=merchant.owner).json()["version"] == 0
    r = client3.put(_rules(merchant.id), json={"levels": 3, "rates_bp": [1000, 500, 100]}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["levels"] == 3


# --- no entry fee, and becoming a sharer costs nothing --------------------------------------------


@pytest.mark.parametrize("key", FEE_KEYS)
def test_a_rule_set_with_an_entry_fee_is_refused_citing_the_law(client, db, merchant, key):
    r = client.put(_rules(merchant.id), json={"sharer_mode": "everyone", key: 9900}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "compliance.entry_fee", r.text
    assert r.json()["field"] == key and "《禁止传销条例》" in r.json()["detail"]
    got = client.get(_rules(merchant.id), headers=merchant.owner).json()
    assert (got["version"], got["sharer_mode"]) == (0, "everyone_after_purchase")


def test_other_unknown_fields_and_the_withdrawal_fee_behave_as_before(client, db, merchant):
    r = client.put(_rules(merchant.id), json={"no_such_setting": 1}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "validation.unknown_field"
    r = client.put(_rules(merchant.id), json={"withdraw_fee_bp": 100}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["withdraw_fee_bp"] == 100


def test_applying_to_be_a_sharer_never_takes_a_fee(client, db, merchant):
    assert client.put(_rules(merchant.id), json={"sharer_mode": "everyone"}, headers=merchant.owner).status_code == 200
    a, b = login(client, "13700000001"), login(client, "13700000002")
    url = f"/api/v1/merchants/{merchant.id}/sharer"
    for key in ("sharer_fee", "entry_fee", "membership_fee"):
        r = client.post(url, json={key: 9900}, headers=a)
        assert r.status_code == 422 and problem_code(r) == "compliance.entry_fee" and r.json()["field"] == key
    assert client.get("/api/v1/me/sharer", params={"merchant_id": merchant.id}, headers=a).json()["status"] != "active"
    assert client.post(url, headers=a).json()["status"] == "active"  # free, without a body
    assert client.post(url, json={"source": "poster"}, headers=b).json()["status"] == "active"  # anything else is ignored, as before


def test_staff_cannot_appoint_a_sharer_for_a_fee(client, db, merchant):
    url = f"/api/v1/merchants/{merchant.id}/sharers"
    r = client.post(url, json={"phone": "13700000003", "sharer_fee": 100}, headers=merchant.owner)
    assert r.status_code == 422 and problem_code(r) == "compliance.entry_fee"
    assert client.get(url, headers=merchant.owner).json() == []
    assert client.post(url, json={"phone": "13700000003"}, headers=merchant.owner).status_code == 201
