"""Due jobs of orders. Each order moves in its own transaction by compare-and-set, so a
run can be repeated or interrupted and resumed without moving anything twice."""

from __future__ import annotations

from datetime import datetime

from linli.db import Database
from linli.jobs import job
from linli.orders.service import checkout, fulfilment


def _each(db: Database, ids: list[int], fn, as_of: datetime) -> int:
    done = 0
    for order_id in ids:
        with db.transaction() as s:
            done += 1 if fn(s, order_id, as_of) else 0
    return done


@job("orders.expire_unpaid", order=10)
def expire_unpaid(db: Database, as_of: datetime) -> int:
    """Orders not paid within the limit (15 minutes) are cancelled; their stock returns."""
    with db.transaction() as s:
        ids = checkout.due_unpaid(s, as_of)
    return _each(db, ids, checkout.expire_unpaid, as_of)


@job("orders.auto_confirm", order=20)
def auto_confirm(db: Database, as_of: datetime) -> int:
    """Orders handed over 7 days ago (by default) and not confirmed are received."""
    with db.transaction() as s:
        ids = fulfilment.due_auto_confirm(s, as_of)
    return _each(db, ids, fulfilment.auto_confirm, as_of)


@job("orders.complete", order=30)
def complete(db: Database, as_of: datetime) -> int:
    """Received orders past the after-sales window with no open case are completed."""
    with db.transaction() as s:
        ids = fulfilment.due_completion(s, as_of)
    return _each(db, ids, fulfilment.complete, as_of)
