from linli.security import issue_token
from tests.conftest import login, problem_code


def test_new_phone_logs_in_and_becomes_member(client):
    r = client.post("/api/v1/auth/otp", json={"phone": "+86 139-0000-1111"})
    assert r.status_code == 202
    assert r.json()["phone"] == "13900001111"
    code = r.json()["debug_code"]
    assert len(code) == 6 and code.isdigit()
    r = client.post("/api/v1/auth/login", json={"phone": "13900001111", "code": code})
    assert r.status_code == 200
    body = r.json()
    assert body["created"] is True
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["phone"] == "13900001111"
    assert me.json()["id"] == body["member_id"]


def test_code_works_once(client):
    code = client.post("/api/v1/auth/otp", json={"phone": "13900001111"}).json()["debug_code"]
    assert client.post("/api/v1/auth/login", json={"phone": "13900001111", "code": code}).status_code == 200
    r = client.post("/api/v1/auth/login", json={"phone": "13900001111", "code": code})
    assert r.status_code == 401 and problem_code(r) == "auth.code_invalid"


def test_expired_code_refused(client, clock):
    code = client.post("/api/v1/auth/otp", json={"phone": "13900001111"}).json()["debug_code"]
    clock.advance(minutes=6)
    r = client.post("/api/v1/auth/login", json={"phone": "13900001111", "code": code})
    assert problem_code(r) == "auth.code_invalid"


def test_invalid_phone_is_problem(client):
    for phone in ["12345", "1380013800", "23800138000", "abcdefghijk", ""]:
        r = client.post("/api/v1/auth/otp", json={"phone": phone})
        assert r.status_code == 422, phone
        assert problem_code(r) == "identity.phone_invalid"


def test_five_wrong_codes_lock_the_phone(client, clock):
    good = client.post("/api/v1/auth/otp", json={"phone": "13900001111"}).json()["debug_code"]
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(5):
        r = client.post("/api/v1/auth/login", json={"phone": "13900001111", "code": wrong})
        assert problem_code(r) == "auth.code_invalid"
    # Locked: even the right code is refused, and no new code is sent.
    r = client.post("/api/v1/auth/login", json={"phone": "13900001111", "code": good})
    assert r.status_code == 423 and problem_code(r) == "auth.phone_locked"
    assert problem_code(client.post("/api/v1/auth/otp", json={"phone": "13900001111"})) == "auth.phone_locked"
    clock.advance(minutes=16)
    assert login(client, "13900001111")


def test_otp_rate_limited_per_phone(db, clock):
    from fastapi.testclient import TestClient

    from linli.config import Settings
    from linli.security import RateLimiter, parse_limits
    from linli.web.app import create_app
    from linli.web.context import AppContext

    settings = Settings(env="test", database_url=db.url, rate_limits="otp_phone=3/hour;otp_phone_burst=10/minute")
    ctx = AppContext(settings=settings, db=db, limiter=RateLimiter(parse_limits(settings.rate_limits)), clock=clock)
    with TestClient(create_app(settings, ctx=ctx, dispatcher=False)) as c:
        for _ in range(3):
            assert c.post("/api/v1/auth/otp", json={"phone": "13900002222"}).status_code == 202
        r = c.post("/api/v1/auth/otp", json={"phone": "13900002222"})
        assert r.status_code == 429 and problem_code(r) == "auth.otp_rate_limited"
        assert int(r.headers["retry-after"]) > 0
        # Another phone is not affected.
        assert c.post("/api/v1/auth/otp", json={"phone": "13900003333"}).status_code == 202


def test_forged_and_expired_tokens_get_401(client, settings, clock):
    h = login(client, "13900001111")
    member_id = client.get("/api/v1/me", headers=h).json()["id"]
    forged = issue_token("not-the-secret", member_id, 3600)
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and problem_code(r) == "auth.token_invalid"
    expired = issue_token(settings.secret_key, member_id, 60, now=clock() - __import__("datetime").timedelta(hours=2))
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and problem_code(r) == "auth.token_expired"
    for bad in ["Bearer", "Basic abc", "Bearer not.a.jwt"]:
        r = client.get("/api/v1/me", headers={"Authorization": bad})
        assert r.status_code == 401, bad
    assert client.get("/api/v1/me").status_code == 401
