"""Replaying what the outbox holds straight into one domain's handlers, as a redelivering
broker or a retried dispatcher would: the replay tests assert it changes nothing."""

from __future__ import annotations

from sqlalchemy import select

from linli import domains, events
from linli.db import Database
from linli.events import Event, OutboxEvent


def replay_handlers(db: Database, domain: str, times: int = 50) -> set[tuple[str, str]]:
    """Hand every event in the outbox, ``times`` over, to each of ``domain``'s handlers of
    it, each call in its own transaction. Returns the (handler key, event name) pairs run."""
    domains.load_all()
    with db.transaction() as s:
        rows = list(s.execute(select(OutboxEvent.id, OutboxEvent.name, OutboxEvent.merchant_id, OutboxEvent.payload, OutboxEvent.created_at).order_by(OutboxEvent.id)))
    ran = set()
    for _ in range(times):
        for eid, name, mid, payload, at in rows:
            for reg in events.registrations(name):
                if reg.key.startswith(f"linli.{domain}."):
                    with db.transaction() as s:
                        reg.handler(s, Event(eid, name, mid, reg.payload_type.from_json(payload), at))
                    ran.add((reg.key, name))
    return ran
