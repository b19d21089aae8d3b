"""Pure rules of the live room's sharer board: who ranks where. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Standing:
    """What a sharer's personal code brought into one live session."""

    member_id: int
    orders: int
    gmv: int  # fen, paid net of refunds
    reached_at: datetime | None  # the payment that brought them to ``gmv``


def _order(x: Standing) -> tuple:
    return (-x.gmv, x.reached_at is None, x.reached_at.timestamp() if x.reached_at else 0.0, x.member_id)


def rank(standings: Iterable[Standing]) -> list[tuple[int, Standing]]:
    """Highest GMV first; ties share a rank (1, 2, 2, 4), the first to reach the score
    listed first; a sharer whose code brought nothing (still) paid is not ranked."""
    out: list[tuple[int, Standing]] = []
    current, previous = 0, None
    for i, x in enumerate(sorted((x for x in standings if x.gmv > 0), key=_order), start=1):
        if x.gmv != previous:
            current, previous = i, x.gmv
        out.append((current, x))
    return out
