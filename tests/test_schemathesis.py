"""Property-based fuzzing of the identity and community API with Schemathesis.

Schemathesis reads the app's own OpenAPI document and sends generated requests, valid and
invalid (``GenerationMode`` positive and negative, NUL bytes and huge integers included),
to every identity and community operation as a logged-in platform admin, on both database
backends. Whatever it sends, the answer must never be a 5xx: bad input is a 4xx problem.
Bounded (``max_examples``) so the whole module runs in well under a minute.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import login

MAX_EXAMPLES = 20


@pytest.fixture
def admin_headers(client, merchant) -> dict[str, str]:
    """A platform admin's header, with a merchant (id 1 on a fresh database), a community
    and a pickup point in place so generated ids hit real rows as well as missing ones."""
    headers = login(client, "13800000000")
    c = client.post(f"/api/v1/merchants/{merchant.id}/communities", json={"name": "云顶华府", "city": "杭州", "lat": 30.27, "lng": 120.15}, headers=headers)
    assert c.status_code == 201, c.text
    p = client.post(
        f"/api/v1/merchants/{merchant.id}/communities/{c.json()['id']}/pickup-points",
        json={"name": "东门驿站", "address": "东门 3 号商铺", "lat": 30.271, "lng": 120.151},
        headers=headers,
    )
    assert p.status_code == 201, p.text
    return headers


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema").include(tag_regex="^(identity|community)$")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, admin_headers):
    case.call_and_validate(headers=admin_headers, checks=[not_a_server_error])
