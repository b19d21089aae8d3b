"""Flash sales: an optional Redis gate in front of the database.

Without ``LINLI_REDIS_URL`` the database alone decides (the offer's ``sold`` compare-and-
set). With it, a Lua script checks the member's limit and takes a unit atomically before
the database is touched, so thousands of buyers contend on Redis rather than on one row;
the database compare-and-set stays the final guard.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.campaigns import rules

_redis = None


def configure(redis_client) -> None:
    """Use ``redis_client`` as the gate (None turns the gate off)."""
    global _redis
    _redis = redis_client


def enabled() -> bool:
    return _redis is not None


def gate_take(s: Session, offer: rules.OfferView, member_id: int, qty: int) -> bool:
    """Take ``qty`` units for ``member_id`` at the gate. False when there is no gate; a
    refusal raises ``campaign.sold_out`` or ``campaign.member_limit``."""
    return False


def gate_undo(s: Session, offer_id: int, member_id: int, qty: int) -> None:
    """Give back at once what ``gate_take`` took in this still-open transaction."""


def gate_give_back(s: Session, offer_id: int, member_id: int, qty: int) -> None:
    """An order holding gated units was cancelled: give them back once that commits."""
