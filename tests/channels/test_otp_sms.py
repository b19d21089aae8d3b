"""One-time codes reach the member by SMS: queued with the code in one transaction, sent
once through the configured channel, retried on a definite refusal, never sent twice.
On SQLite and PostgreSQL, against local fakes of the providers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from linli.channels import outbox
from linli.channels.outbox import SmsRecord
from linli.config import Settings
from linli.security import RateLimiter, parse_limits
from linli.web.app import create_app
from linli.web.context import AppContext
from tests.channels.fakes import settings_for

PHONE = "13900001111"
LIMITS = "otp_phone=100/hour;otp_phone_burst=100/minute"


@pytest.fixture
def sms_app(db, clock):
    """An app whose SMS channel points at a local fake: ``sms_app(kind, script, env=)``."""
    clients: list[TestClient] = []

    def build(fake, env: str = "production", dispatcher: bool = False) -> TestClient:
        extra = {"secret_key": "s" * 40, "payment_secret": "p" * 40} if env == "production" else {}
        settings = Settings(env=env, database_url=db.url, rate_limits=LIMITS, **extra, **settings_for(fake.kind, fake.url))
        ctx = AppContext(settings=settings, db=db, limiter=RateLimiter(parse_limits(LIMITS)), clock=clock)
        c = TestClient(create_app(settings, ctx=ctx, dispatcher=dispatcher), raise_server_exceptions=False)
        c.__enter__()
        clients.append(c)
        return c

    yield build
    for c in clients:
        c.__exit__(None, None, None)


def send(client: TestClient, clock) -> int:
    ctx = client.app.state.ctx
    return outbox.send_due(ctx.db, ctx.sms, now=clock())


def messages(db) -> list[SmsRecord]:
    with db.transaction() as s:
        return list(s.scalars(select(SmsRecord).order_by(SmsRecord.id)))


@pytest.mark.parametrize("kind", ["webhook", "aliyun"])
def test_in_production_the_code_arrives_by_sms_once_and_logs_the_member_in(db, clock, fake_provider, sms_app, kind):
    fake = fake_provider(kind)
    c = sms_app(fake)
    r = c.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert r.status_code == 202 and r.json()["debug_code"] is None
    assert fake.requests == 0  # queued with the code; sent once committed, by the sender
    assert send(c, clock) == 1
    assert send(c, clock) == 0  # nothing left to send
    assert len(fake.delivered) == 1 and fake.delivered[0].phone == PHONE
    code = fake.delivered[0].params["code"]
    r = c.post("/api/v1/auth/login", json={"phone": PHONE, "code": code})
    assert r.status_code == 200, r.text
    [row] = messages(db)
    assert row.status == "sent" and row.params is None and row.provider == kind  # the code is not kept


def test_the_embedded_sender_sends_on_commit(db, clock, fake_provider, sms_app):
    fake = fake_provider("webhook")
    c = sms_app(fake, dispatcher=True)
    assert c.post("/api/v1/auth/otp", json={"phone": PHONE}).status_code == 202
    assert fake.got_one.wait(15), "the sender did not deliver the code"
    assert len(fake.delivered) == 1 and len(fake.delivered[0].params["code"]) == 6


def test_outside_production_the_code_is_also_answered_and_is_the_one_sent(db, clock, fake_provider, sms_app):
    fake = fake_provider("tencent")
    c = sms_app(fake, env="test")
    shown = c.post("/api/v1/auth/otp", json={"phone": PHONE}).json()["debug_code"]
    send(c, clock)
    assert fake.delivered[0].params == [shown]


def test_a_provider_failure_then_success_sends_the_code_once(db, clock, fake_provider, sms_app):
    fake = fake_provider("aliyun", ["isp.SYSTEM_ERROR", "Throttling.User"])
    c = sms_app(fake)
    c.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert send(c, clock) == 0
    [row] = messages(db)
    assert row.status == "pending" and row.attempts == 1 and "isp.SYSTEM_ERROR" in row.last_error
    assert send(c, clock) == 0 and fake.requests == 1  # backing off: not due yet
    clock.advance(seconds=2)
    assert send(c, clock) == 0 and fake.requests == 2
    clock.advance(seconds=4)
    assert send(c, clock) == 1 and fake.requests == 3
    clock.advance(seconds=60)
    assert send(c, clock) == 0
    assert len(fake.delivered) == 1
    [row] = messages(db)
    assert (row.status, row.attempts, row.params) == ("sent", 3, None)


def test_a_definite_refusal_for_good_is_marked_failed_and_the_code_dropped(db, clock, fake_provider, sms_app):
    fake = fake_provider("webhook", ["400"])
    c = sms_app(fake)
    c.post("/api/v1/auth/otp", json={"phone": PHONE})
    send(c, clock)
    clock.advance(minutes=1)
    send(c, clock)
    [row] = messages(db)
    assert (row.status, row.params, fake.requests) == ("failed", None, 1)


def test_retries_stop_before_the_code_expires(db, clock, fake_provider, sms_app):
    fake = fake_provider("webhook", ["503"] * 20)
    c = sms_app(fake)
    c.post("/api/v1/auth/otp", json={"phone": PHONE})
    for _ in range(10):
        send(c, clock)
        clock.advance(seconds=20)
    [row] = messages(db)
    assert row.status == "failed" and row.params is None and fake.requests == outbox.MAX_ATTEMPTS and fake.delivered == []


def test_a_claimed_message_is_not_sent_again(db, clock, fake_provider, sms_app):
    """The sender died after committing its claim (before or during the provider call): a
    redelivered run finds the message taken and sends nothing; it ends as ``unknown``."""
    fake = fake_provider("webhook")
    c = sms_app(fake)
    c.post("/api/v1/auth/otp", json={"phone": PHONE})
    [row] = messages(db)
    assert outbox._claim(db, row.id, clock(), "webhook") is not None  # claimed, then the process died
    assert outbox.send_one(db, c.app.state.ctx.sms, row.id, clock()) is None
    assert send(c, clock) == 0
    clock.advance(minutes=6)
    assert send(c, clock) == 0
    [row] = messages(db)
    assert row.status == "unknown" and row.params is None and fake.requests == 0


def test_an_outcome_in_doubt_is_not_resent(db, clock, fake_provider, sms_app):
    """The request went out and the answer was lost: it may have been delivered, so it is
    not resent (the member can ask for a new code)."""
    fake = fake_provider("aliyun", ["drop"])
    c = sms_app(fake)
    c.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert send(c, clock) == 0
    clock.advance(minutes=10)
    assert send(c, clock) == 0
    [row] = messages(db)
    assert (row.status, row.params, fake.requests) == ("unknown", None, 1)
    clock.advance(minutes=1)
    c.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert send(c, clock) == 1 and len(fake.delivered) == 1


def test_a_new_code_replaces_one_still_waiting(db, clock, fake_provider, sms_app):
    fake = fake_provider("webhook")
    c = sms_app(fake, env="test")
    c.post("/api/v1/auth/otp", json={"phone": PHONE})
    clock.advance(minutes=1)
    newest = c.post("/api/v1/auth/otp", json={"phone": PHONE}).json()["debug_code"]
    assert send(c, clock) == 1
    assert [d.params["code"] for d in fake.delivered] == [newest]
    old, new = messages(db)
    assert (old.status, old.params, new.status) == ("superseded", None, "sent")


def test_a_code_that_expired_while_waiting_is_not_sent(db, clock, fake_provider, sms_app):
    fake = fake_provider("webhook")
    c = sms_app(fake)
    c.post("/api/v1/auth/otp", json={"phone": PHONE})
    clock.advance(minutes=6)
    assert send(c, clock) == 0
    [row] = messages(db)
    assert (row.status, row.params, fake.requests) == ("expired", None, 0)


def test_a_refused_otp_request_queues_no_sms(db, clock, fake_provider, sms_app):
    fake = fake_provider("webhook")
    c = sms_app(fake)
    assert c.post("/api/v1/auth/otp", json={"phone": "12345"}).status_code == 422
    assert messages(db) == [] and send(c, clock) == 0


def test_retry_backoff_is_bounded_and_respects_expiry(clock):
    now = clock()
    assert outbox.retry_at(1, now, None) == now + timedelta(seconds=2)
    assert outbox.retry_at(3, now, None) == now + timedelta(seconds=8)
    assert outbox.retry_at(outbox.MAX_ATTEMPTS, now, None) is None
    assert outbox.retry_at(1, now, now + timedelta(seconds=1)) is None


def test_linli_worker_once_sends_what_is_queued(db, clock, fake_provider, sms_app):
    from linli import worker

    fake = fake_provider("webhook")
    c = sms_app(fake, env="test")
    clock.current = outbox.utcnow()  # the worker runs on the real clock
    c.post("/api/v1/auth/otp", json={"phone": PHONE})
    worker.run(c.app.state.ctx.settings, db, once=True)
    assert len(fake.delivered) == 1 and messages(db)[0].status == "sent"


class _EchoingRelay:
    """An SMS relay that refuses with the request echoed in its error text."""

    name = "webhook"

    def send(self, message):
        from linli.channels.sms import Refused

        raise Refused("webhook.http_400", f"bad request: {message.phone} {message.params}", retryable=False)


def test_a_provider_error_that_echoes_the_code_is_stored_and_logged_without_it(db, clock, caplog):
    with db.transaction() as s:
        outbox.enqueue(s, PHONE, "otp", {"code": "739104"}, now=clock(), expires_at=clock() + timedelta(minutes=5), secret=True)
    with caplog.at_level("INFO"):
        assert outbox.send_due(db, _EchoingRelay(), now=clock()) == 0
    [row] = messages(db)
    assert row.status == "failed" and row.params is None
    assert "739104" not in (row.last_error or "") and "739104" not in caplog.text
    assert PHONE not in row.last_error and PHONE not in caplog.text
    assert "bad request" in row.last_error
