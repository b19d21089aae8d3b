"""Placing an order: the one use case behind ``POST /api/v1/orders`` and the member checkout
page.

Both go through the same steps: the flash-sale queue (a rush waits its turn, orders/ports.py),
the request's idempotency key, then the order itself (campaign, team and invite code priced
by ``create_order``) and, for the page, its payment. What differs is only when the queue is
asked: the API asks it before the key (its event-loop gate, ``queue_on_loop``, cannot touch
the database, so a queued API order never claims its key), while the page claims its form's
key first and keeps the queued answer under it, so a resent form lands on the same page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from linli import idempotency
from linli.orders import ports
from linli.orders.models import Order
from linli.orders.service.checkout import NewOrder, create_order, start_payment

if TYPE_CHECKING:
    from linli.db import Database


@dataclass(frozen=True)
class Placed:
    """What placing came to: a new ``order`` (with its ``payment`` when asked for) or a
    ``ticket`` in a flash-sale queue, and the ``response`` kept under the key with its
    ``status`` (or, ``replayed``, those of an earlier try with the same key). A ticket from
    the queue asked before the key has no response."""

    order: Order | None = None
    payment: Any = None
    ticket: str | None = None
    response: dict[str, Any] | None = None
    status: int | None = None
    replayed: bool = False


async def queue_on_loop(db: Database, member_id: int, req: NewOrder, key: str | None, now: datetime) -> str | None:
    """The flash-sale queue's answer on the event loop (no thread, no database), or None
    when the order is placed by ``place_order`` in a thread."""
    return await ports.queue.get().try_queue_now(db, member_id, req, key, now)


def place_order(
    s: Session, member_id: int, order: NewOrder | Callable[[], NewOrder], now: datetime, *,
    key: str | None, scope: str, request: Any, answer: Callable[[Placed], tuple[dict[str, Any], int]],
    keep_queued: bool = False, pay: bool = False,
) -> Placed:
    """Place ``order`` once per ``key`` (``request`` is what a retry must repeat; ``scope``
    names the entry point). ``order`` may be built lazily, after the key is claimed.
    ``answer`` gives the response kept under the key; ``keep_queued`` claims the key before
    the queue is asked and keeps the queued answer too; ``pay`` opens the order's payment."""
    req = None
    if not keep_queued:
        req = order() if callable(order) else order
        ticket = ports.queue.get().try_queue(s, member_id, req, key, now)  # e.g. the first order of a sale in this process
        if ticket is not None:
            return Placed(ticket=ticket)
    claim = idempotency.claim(s, f"member:{member_id}", scope, key, request, now)
    if claim.replay is not None:
        return Placed(response=claim.replay, status=claim.replay_status, replayed=True)
    ticket = None
    if req is None:
        req = order() if callable(order) else order
        ticket = ports.queue.get().try_queue(s, member_id, req, key, now)
    if ticket is not None:
        placed = Placed(ticket=ticket)
    else:
        o = create_order(s, member_id, req, now)
        placed = Placed(order=o, payment=start_payment(s, member_id, o.id, now) if pay else None)
    body, status = answer(placed)
    claim.store(s, body, status)
    return replace(placed, response=body, status=status)
