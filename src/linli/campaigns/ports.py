"""What campaigns asks of other domains through ports (filled by the composition root).

``early_access``: whether a member may enter and buy a campaign's early-access minutes
before its start (RULES.md, Growth incentives: 社区推荐官 gets first access to trials). The
incentives domain answers it from its badges; until a domain fills the port nobody has
early access, so every member sees the normal countdown.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from linli.composition import Port


class EarlyAccess(Protocol):
    def __call__(self, s: Session, merchant_id: int, member_id: int) -> bool:
        """Whether ``member_id`` has first access to ``merchant_id``'s campaigns."""


def nobody(s: Session, merchant_id: int, member_id: int) -> bool:
    return False


early_access: Port[EarlyAccess] = Port("campaigns.early_access", nobody)


def has_early_access(s: Session, merchant_id: int, member_id: int) -> bool:
    return bool(early_access.get()(s, merchant_id, member_id))
