"""The SMS outbox: messages recorded in the caller's transaction, sent by a sender loop.

``enqueue`` adds an ``sms_messages`` row in the same transaction as its cause (a one-time
code), so a message exists if and only if the code does. ``send_due`` sends what is due,
each message at most once:

1. **claim**: ``pending → sending`` by compare-and-set, committed *before* the provider is
   called, so a second sender, a restart or a redelivered run finds nothing to send;
2. **call** the channel outside any transaction;
3. **record** the outcome: ``sent``; a definite refusal that may pass later goes back to
   ``pending`` with an exponential backoff (at most ``MAX_ATTEMPTS`` tries, and never past
   the code's expiry), else ``failed``; an outcome in doubt (the request went out, no answer)
   becomes ``unknown`` and is **not** resent — a duplicate code is worse than a missing one,
   and the member can simply ask for a new code. A process that died between claim and
   record leaves ``sending``; after ``STALE_AFTER`` it is marked ``unknown`` the same way.

Secret parameters (the code) are blanked as soon as the message is done with (sent,
failed, unknown, expired or superseded by a newer code), and never logged.

Why not an ``outbox_events`` handler: a handler's effects commit together with its
``handled_events`` row, after it returns, so it cannot commit the claim before the
provider call; and the channel is built from ``Settings``, which the sender holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from linli.channels.sms import InDoubt, Refused, SmsChannel, SmsMessage
from linli.db import Base, BigId, Database, UTCDateTime, utcnow
from linli.events import Dispatcher

log = logging.getLogger("linli.channels.sms")

MAX_ATTEMPTS = 5
STALE_AFTER = timedelta(minutes=5)
TERMINAL = ("sent", "failed", "unknown", "expired", "superseded")


class SmsRecord(Base):
    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_due", "status", "next_attempt_at"), Index("ix_sms_messages_phone", "phone", "template"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    phone: Mapped[str] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(40))
    # Blanked (NULL) once a secret message is done with.
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    # pending | sending | sent | failed | unknown | expired | superseded
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    provider: Mapped[str | None] = mapped_column(String(16), nullable=True)
    provider_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def ref(self) -> str:
        return f"sms-{self.id}"


def enqueue(
    s: Session,
    phone: str,
    template: str,
    params: dict[str, str],
    *,
    now: datetime,
    expires_at: datetime | None = None,
    secret: bool = False,
    supersede: bool = False,
    merchant_id: int | None = None,
) -> SmsRecord:
    """Record a message to send, in the caller's transaction. ``supersede`` drops the
    phone's messages of this template still waiting (a new code replaces the older ones)."""
    if supersede:
        s.execute(
            update(SmsRecord)
            .where(SmsRecord.phone == phone, SmsRecord.template == template, SmsRecord.status == "pending")
            .values(status="superseded", params=None, done_at=now)
        )
    row = SmsRecord(
        merchant_id=merchant_id, phone=phone, template=template, params=dict(params), secret=secret,
        status="pending", attempts=0, next_attempt_at=now, expires_at=expires_at, created_at=now,
    )  # fmt: skip
    s.add(row)
    s.flush()
    s.info["linli_sms_queued"] = True  # wakes an embedded sender on commit
    return row


def retry_at(attempts: int, now: datetime, expires_at: datetime | None, *, max_attempts: int = MAX_ATTEMPTS) -> datetime | None:
    """When to try again after ``attempts`` refused tries (2, 4, 8, 16 s…), or None: give up."""
    if attempts >= max_attempts:
        return None
    at = now + timedelta(seconds=min(2**attempts, 300))
    return None if expires_at is not None and at >= expires_at else at


def _mask(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def _finish(s: Session, message_id: int, status: str, now: datetime, **values) -> bool:
    """Move a claimed message to a final (or pending) state; blank a secret once done."""
    row = s.get(SmsRecord, message_id)
    if row is None or row.status != "sending":
        return False
    if status in TERMINAL:
        values["done_at"] = now
        if row.secret:
            values["params"] = None
    return s.execute(update(SmsRecord).where(SmsRecord.id == message_id, SmsRecord.status == "sending").values(status=status, **values)).rowcount == 1


def _sweep(db: Database, now: datetime) -> None:
    """Expire what waited past its code's life; give up on claims a dead process left."""
    with db.transaction() as s:
        s.execute(
            update(SmsRecord)
            .where(SmsRecord.status == "pending", SmsRecord.expires_at.is_not(None), SmsRecord.expires_at <= now)
            .values(status="expired", params=None, done_at=now)
        )
        stale = list(s.scalars(select(SmsRecord.id).where(SmsRecord.status == "sending", SmsRecord.claimed_at < now - STALE_AFTER)))
        for mid in stale:
            _finish(s, mid, "unknown", now, last_error="claimed, then no outcome recorded (the sender stopped?)")


def _claim(db: Database, message_id: int, now: datetime, channel: str) -> SmsMessage | None:
    with db.transaction() as s:
        claimed = s.execute(
            update(SmsRecord)
            .where(SmsRecord.id == message_id, SmsRecord.status == "pending", SmsRecord.next_attempt_at <= now)
            .values(status="sending", attempts=SmsRecord.attempts + 1, claimed_at=now, provider=channel)
        ).rowcount
        if claimed != 1:
            return None
        row = s.get(SmsRecord, message_id)
        return SmsMessage(row.phone, row.template, {k: str(v) for k, v in (row.params or {}).items()}, row.ref)


def _scrub(text: str, message: SmsMessage) -> str:
    """A provider's error text without the message's parameters (a relay may echo the
    request back): what is stored and logged never carries the code, nor the whole phone."""
    for value in message.params.values():
        if value:
            text = text.replace(value, "***")
    return text.replace(message.phone, _mask(message.phone))[:1000]


def send_one(db: Database, channel: SmsChannel, message_id: int, now: datetime) -> str | None:
    """Claim, send and record one message; returns its new status (None: not ours to send)."""
    message = _claim(db, message_id, now, channel.name)
    if message is None:
        return None
    try:
        sent = channel.send(message)
    except InDoubt as exc:
        status, values = "unknown", {"last_error": _scrub(str(exc), message)}
    except Refused as exc:
        with db.transaction() as s:
            row = s.get(SmsRecord, message_id)
            again = retry_at(row.attempts, now, row.expires_at) if exc.retryable else None
        status, values = ("pending", {"next_attempt_at": again}) if again else ("failed", {})
        values["last_error"] = _scrub(str(exc), message)
    except Exception as exc:  # an adapter bug: the request may or may not have gone out
        log.exception("sms %s: the %s channel raised", message_id, channel.name)
        status, values = "unknown", {"last_error": f"{exc.__class__.__name__}"}
    else:
        status, values = "sent", {"provider_ref": sent.provider_ref[:100] or None, "last_error": None}
    with db.transaction() as s:
        _finish(s, message_id, status, now, **values)
    level = logging.INFO if status in ("sent", "pending") else logging.WARNING
    log.log(level, "sms %s to %s (%s) via %s: %s%s", message_id, _mask(message.phone), message.template, channel.name, status,
            f" ({values['last_error']})" if values.get("last_error") else "")  # fmt: skip
    return status


def send_due(db: Database, channel: SmsChannel, *, now: datetime | None = None, limit: int = 100) -> int:
    """Send every message due at ``now``; returns how many were sent."""
    now = now or utcnow()
    _sweep(db, now)
    with db.transaction() as s:
        due = list(
            s.scalars(select(SmsRecord.id).where(SmsRecord.status == "pending", SmsRecord.next_attempt_at <= now).order_by(SmsRecord.id).limit(limit))
        )
    return sum(1 for mid in due if send_one(db, channel, mid, now) == "sent")


class SmsSender(Dispatcher):
    """The sender loop: a daemon thread that sends due messages when woken (a message was
    committed in this process) or every ``interval`` seconds (retries, other processes)."""

    thread_name = "linli-sms"

    def __init__(self, db: Database, channel: SmsChannel, *, interval: float = 1.0, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(db, interval)
        self.channel, self.clock = channel, clock

    def on_commit(self, session: Session) -> None:
        """An ``after_commit`` listener: wake up when the transaction queued a message."""
        if session.info.pop("linli_sms_queued", False):
            self.wake()

    def step(self) -> None:
        send_due(self.db, self.channel, now=self.clock())
