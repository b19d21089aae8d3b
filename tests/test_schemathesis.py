"""Property-based fuzzing of the API with Schemathesis, driven by Hypothesis in the test itself.

Schemathesis reads the app's own OpenAPI document; for every operation of the fuzzed tags the
test draws requests from the operation's strategy, valid ones (``GenerationMode.POSITIVE``) and
invalid ones (``NEGATIVE``: wrong types, unknown fields, NUL bytes, huge integers), sends them
to the app in-process and checks ``not_a_server_error``: whatever it sends, the answer must never
be a 5xx. Every operation is tried by each role that reaches different code, on both backends.

The schema is loaded inside the test and each operation's ``as_strategy()`` is run with
``@given`` here, so nothing depends on Schemathesis' pytest plugin (which reaches into pytest
internals). Examples are derandomized (the same run every time) and bounded per operation;
every failing operation is named in the report, with the request that failed.
"""

from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.conftest import login

TAGS = re.compile(r"^(identity|community)$")
MAX_EXAMPLES = 10
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)


def _setup(client, merchant) -> None:
    """A community and a pickup point, so generated ids hit real rows as well as missing ones."""
    h = merchant.owner
    c = client.post(f"/api/v1/merchants/{merchant.id}/communities", json={"name": "云顶华府", "city": "杭州", "lat": 30.27, "lng": 120.15}, headers=h)
    assert c.status_code == 201, c.text
    p = client.post(
        f"/api/v1/merchants/{merchant.id}/communities/{c.json()['id']}/pickup-points",
        json={"name": "东门驿站", "address": "东门 3 号商铺", "lat": 30.271, "lng": 120.151},
        headers=h,
    )
    assert p.status_code == 201, p.text


def _fuzz(operation, mode: GenerationMode, headers: dict[str, str]) -> str | None:
    """Run one operation in one mode; the failure report, or None."""

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    try:
        run()
    except Unsatisfiable:
        return None  # nothing of this operation can be made invalid (no parameters, no body)
    except Exception as exc:  # noqa: BLE001 - every failure is collected and reported together
        return f"{mode.value} {operation.label}:\n{exc}"
    return None


def test_no_server_errors(app, client, admin, merchant):
    _setup(client, merchant)
    roles = {"owner": merchant.owner, "admin": admin}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(tag_regex=TAGS.pattern)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for role, headers in roles.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failure = _fuzz(operation, mode, headers)
                if failure:
                    failures.append(f"as {role}, {failure}")
    assert not failures, "\n\n".join(failures)
