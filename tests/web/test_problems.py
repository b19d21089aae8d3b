"""Every error a client can provoke leaves as RFC 9457 problem+json with a stable code,
and every response carries a request id and the security headers."""

from __future__ import annotations

import re

import pytest

from tests.conftest import login, problem_code

MB = 1024 * 1024


def assert_problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    assert body["title"] and body["detail"]
    return body


def test_malformed_json_is_400(client):
    for raw in [b"{bad", b'{"phone": "13900001111"', b"[1, 2", b"\xff\xfe"]:
        r = client.post("/api/v1/auth/otp", content=raw, headers={"content-type": "application/json"})
        assert_problem(r, 400, "request.malformed_json")


def test_body_over_1mb_with_content_length_is_413(client):
    body = b'{"phone": "' + b"1" * (MB + 16) + b'"}'
    r = client.post("/api/v1/auth/otp", content=body, headers={"content-type": "application/json"})
    assert_problem(r, 413, "request.too_large")


def test_body_over_1mb_without_content_length_is_413(client):
    """A chunked body has no Content-Length: the limit is enforced while reading it."""
    sent = []

    def chunks():
        for _ in range(12):
            sent.append(1)
            yield b" " * (100 * 1024)

    r = client.post("/api/v1/auth/otp", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_problem(r, 413, "request.too_large")


def test_body_just_under_the_limit_is_read(client):
    body = b'{"phone": "13900001111"}' + b" " * (MB - 100)
    r = client.post("/api/v1/auth/otp", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 202, r.text


def test_too_large_body_changes_nothing(client):
    """A refused body never reaches the endpoint: no merchant is created."""
    admin = login(client, "13800000000")
    body = ('{"name": "巨无霸", "owner_phone": "13900001111", "pad": "' + "x" * (MB + 1) + '"}').encode()
    r = client.post("/api/v1/merchants", content=body, headers={**admin, "content-type": "application/json"})
    assert_problem(r, 413, "request.too_large")
    assert client.get("/api/v1/merchants", headers=admin).json() == []


def test_unknown_fields_are_422(client):
    r = client.post("/api/v1/auth/otp", json={"phone": "13900001111", "admin": True})
    body = assert_problem(r, 422, "validation.unknown_field")
    assert body["errors"][0]["loc"][-1] == "admin"


def test_missing_and_wrong_typed_fields_are_422(client):
    assert_problem(client.post("/api/v1/auth/otp", json={}), 422, "validation.invalid")
    assert_problem(client.post("/api/v1/auth/login", json={"phone": "13900001111", "code": ["1"]}), 422, "validation.invalid")


def test_nul_characters_are_refused_not_500(client):
    """PostgreSQL cannot store NUL in text; it must be a 422 on both backends."""
    admin = login(client, "13800000000")
    r = client.post("/api/v1/merchants", json={"name": "优邻\x00优选", "owner_phone": "13900001111"}, headers=admin)
    assert_problem(r, 422, "validation.invalid")
    assert_problem(client.get("/api/v1/communities", params={"q": "云\x00"}), 422, "validation.invalid")


@pytest.mark.parametrize("path", ["/api/v1/merchants/99999999999999999999999", "/api/v1/merchants/0", "/api/v1/merchants/-1", "/api/v1/communities/18446744073709551616/pickup-points"])
def test_ids_out_of_range_are_422_not_500(client, path):
    admin = login(client, "13800000000")
    assert_problem(client.get(path, headers=admin), 422, "validation.invalid")


def test_unknown_route_is_404_problem(client):
    body = assert_problem(client.get("/api/v1/no-such-thing"), 404, "http.not_found")
    assert body["instance"] == "/api/v1/no-such-thing"


def test_wrong_method_is_405_problem(client):
    r = client.delete("/api/v1/auth/otp")
    assert_problem(r, 405, "http.method_not_allowed")
    assert "POST" in r.headers.get("allow", "")


def test_domain_errors_carry_instance_and_stable_code(client):
    r = client.post("/api/v1/auth/otp", json={"phone": "12345"})
    body = assert_problem(r, 422, "identity.phone_invalid")
    assert body["instance"] == "/api/v1/auth/otp"
    r = client.get("/api/v1/me")
    assert_problem(r, 401, "auth.unauthorized")


def test_request_id_is_echoed_or_made(client):
    r = client.get("/healthz", headers={"X-Request-ID": "req-abc-123"})
    assert r.headers["x-request-id"] == "req-abc-123"
    # Errors carry it too, so a user's report can be found in the logs.
    r = client.post("/api/v1/auth/otp", content=b"{bad", headers={"content-type": "application/json", "X-Request-ID": "req-err-1"})
    assert r.status_code == 400 and r.headers["x-request-id"] == "req-err-1"
    made = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz").headers["x-request-id"] != made
    # An absurdly long id is cut, not reflected whole.
    assert len(client.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["x-request-id"]) == 64


@pytest.mark.parametrize(
    "method,path,kwargs",
    [
        ("get", "/healthz", {}),
        ("get", "/api/v1/me", {}),
        ("get", "/nowhere", {}),
        ("post", "/api/v1/auth/otp", {"content": b"x" * (MB + 1)}),
    ],
)
def test_security_headers_on_every_response(client, method, path, kwargs):
    r = getattr(client, method)(path, **kwargs)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "'unsafe-inline'" not in r.headers["content-security-policy"]
    assert r.headers["x-request-id"]


def test_problem_code_helper_agrees(client):
    assert problem_code(client.get("/nowhere")) == "http.not_found"
