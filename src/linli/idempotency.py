"""``Idempotency-Key`` for retryable writes.

The first request with a key claims it inside the use case's own transaction (insert with
ON CONFLICT DO NOTHING: a concurrent twin blocks until the first commits, then sees its
stored response), runs, and stores its response in the same transaction. A retry with the
same key and body gets the stored response and has no further effect; the same key with a
different body is refused with 409.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from linli.db import Base, BigId, UTCDateTime, insert_ignore, utcnow
from linli.errors import Conflict, Invalid


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("owner", "scope", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(40))  # e.g. "member:12"
    scope: Mapped[str] = mapped_column(String(60))  # the use case, e.g. "orders.create"
    key: Mapped[str] = mapped_column(String(120))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def body_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


@dataclass
class Claim:
    """The outcome of claiming a key: either a replay of the stored response, or a fresh
    slot whose response ``store`` records."""

    record_id: int | None
    replay: dict[str, Any] | None = None
    replay_status: int | None = None

    def store(self, s: Session, response: dict[str, Any], status_code: int = 200) -> None:
        if self.record_id is not None:
            rec = s.get(IdempotencyRecord, self.record_id)
            rec.response, rec.status_code = response, status_code
            s.flush()


def claim(s: Session, owner: str, scope: str, key: str | None, body: Any, now: datetime | None = None) -> Claim:
    if key is None:
        return Claim(None)
    key = key.strip()
    if not 1 <= len(key) <= 120:
        raise Invalid("idempotency.key_invalid", "Idempotency-Key must have 1 to 120 characters.")
    digest = body_hash(body)
    values = {"owner": owner, "scope": scope, "key": key, "request_hash": digest, "created_at": now or utcnow()}
    ins = insert_ignore(s, IdempotencyRecord, values, ["owner", "scope", "key"]).returning(IdempotencyRecord.id)
    new_id = s.execute(ins).scalar()
    if new_id is not None:
        return Claim(new_id)
    rec = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.owner == owner, IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)).one()
    if rec.request_hash != digest:
        raise Conflict("idempotency.key_reused", "This Idempotency-Key was used with a different request.")
    if rec.response is None:
        # The first request is still running in another transaction (SQLite serialises, so
        # this is only a defensive answer); the client retries later.
        raise Conflict("idempotency.in_progress", "A request with this Idempotency-Key is still in progress.")
    return Claim(None, replay=rec.response, replay_status=rec.status_code)
