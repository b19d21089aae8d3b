"""Turns: the order handlers of one buyer (invitee) take turns, each locking the buyer's row
in ``incentive_invitees`` first, so a late receipt and the completion, or a refund and the
receipt, never each miss what the other is writing (referrals.py, sales.py)."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from linli.db import insert_ignore
from linli.incentives.models import InviteeTurn

TURN_WAIT_MS = 2000  # PostgreSQL: how long a handler waits for the invitee's turn


def take_turn(s: Session, merchant_id: int, invitee_id: int) -> None:
    """Lock the invitee's row (made on its first binding, else here) until this transaction
    ends. On PostgreSQL the wait is bounded (``lock_timeout``, then back to the default for
    the rest of the transaction): a handler that cannot get the turn in time fails and is
    retried by the outbox instead of waiting on a transaction that may be waiting on it.
    SQLite ignores the lock (its writer turns serialise the handlers)."""
    pg = s.get_bind().dialect.name == "postgresql"
    if pg:
        s.execute(text(f"SET LOCAL lock_timeout = {TURN_WAIT_MS}"))
    q = select(InviteeTurn.invitee_id).where(InviteeTurn.merchant_id == merchant_id, InviteeTurn.invitee_id == invitee_id).with_for_update()
    if s.scalars(q).first() is None:
        s.execute(insert_ignore(s, InviteeTurn, {"merchant_id": merchant_id, "invitee_id": invitee_id}, ["merchant_id", "invitee_id"]))
        s.scalars(q).first()
    if pg:
        s.execute(text("SET LOCAL lock_timeout = DEFAULT"))
