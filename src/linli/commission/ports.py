"""Ports commission declares for others to fill.

``screen`` (``commission.screen``) lets another domain veto beneficiaries of one order
before its commission accrues (risk fills it: a self-referral — the buyer shares a phone,
device, payer account or address with a beneficiary — or a leader's 跨区引流). Commission
never imports risk; risk's ``wire`` fills the port.

``service.accrue`` asks it once per delivery of ``order.paid``, after computing the
beneficiaries (the chain members with their levels) and the leader, before writing any
record. The ``Verdict`` names who earns nothing on this order:

- ``excluded``: members who get no record on this order, in any role (a chain level or
  the leader's share). The other beneficiaries keep their own level's share; nobody is
  moved up into an excluded member's level (no compression, as for an inactive sharer).
- ``leader_excluded``: the leader gets no record on this order.

An implementation must be idempotent: ``order.paid`` may be delivered again (accrue is
idempotent per line, beneficiary and level, and asks again), and it should answer the same
for the same order. A record already written is never taken back by a later verdict.
The default, ``PassAll``, excludes nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from linli.composition import Port
from linli.orders.events import OrderPaid


@dataclass(frozen=True)
class Verdict:
    excluded: frozenset[int] = frozenset()  # beneficiaries (chain members) who earn nothing on this order
    leader_excluded: bool = False  # the leader earns nothing on this order (跨区引流)


class Screen(Protocol):
    def screen(self, s: Session, order: OrderPaid, beneficiaries: list[tuple[int, int]], leader: int | None, now: datetime) -> Verdict:
        """Who of ``beneficiaries`` ((member_id, level)) and the ``leader`` earns nothing on
        ``order``."""


class PassAll:
    """Nobody is excluded."""

    def screen(self, s: Session, order: OrderPaid, beneficiaries: list[tuple[int, int]], leader: int | None, now: datetime) -> Verdict:
        return Verdict()


screen: Port[Screen] = Port("commission.screen", PassAll())
