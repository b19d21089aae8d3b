"""Pure rules of a threshold's close: what it does to each order of a community. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from linli.campaigns import rules


@dataclass(frozen=True)
class Outcome:
    kind: str  # rebate | cancelled | none
    off: int | None  # fen back per order; None = everything still refundable


def outcome(tiers: list[tuple[int, int]], miss_policy: str | None, orders: int, has_community: bool = True) -> Outcome:
    """What the close does to each order of a community with ``orders`` counted orders
    (pure): the reached tier's amount back, or the miss policy (``cancel`` refunds all,
    ``proceed`` keeps the base price)."""
    reached = rules.tier_for(tiers, orders) if has_community else None
    if reached is not None:
        return Outcome("rebate", reached[1])
    if miss_policy == "cancel":
        return Outcome("cancelled", None)
    return Outcome("none", 0)
