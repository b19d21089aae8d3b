"""The sharer centre's money (``/m/share/{mid}``: the rule set's levels, earnings,
withdrawals and a withdrawal request): referral shows it, commission owns it. Commission
fills this port from its ``wire`` (``commission/domain.py``), so referral never imports
commission (which builds on referral)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from linli.composition import Port
from linli.errors import NotFound


class SharerMoney(Protocol):
    def rule_set(self, s: Session, merchant_id: int) -> Any:
        """The commission rule set in force (levels, rates, withdrawal terms)."""

    def earnings(self, s: Session, member_id: int, merchant_id: int, limit: int) -> Any:
        """Frozen, available and withdrawn totals with the latest records."""

    def withdrawals(self, s: Session, member_id: int, merchant_id: int, limit: int) -> list[Any]:
        """The member's latest withdrawals."""

    def withdraw(self, s: Session, member_id: int, merchant_id: int, amount: int, now: datetime) -> Any:
        """Request a withdrawal of ``amount`` fen (refused with a stable code)."""

    def destination(self, s: Session, member_id: int) -> Any:
        """Where the member's withdrawals go (``prefer``: wechat | alipay, and the masks of the
        Alipay account and name they gave), or None when they never chose."""

    def set_destination(self, s: Session, member_id: int, prefer: str, alipay_account: str, alipay_name: str, now: datetime) -> Any:
        """Choose where withdrawals go (refused with a stable code; an empty account keeps the stored one)."""


class NoMoney:
    """Without a commission domain there is no money to show: the centre is not offered."""

    def _refuse(self, *args: Any) -> Any:
        raise NotFound("commission.unavailable", "Earnings are not offered here.")

    rule_set = earnings = withdrawals = withdraw = destination = set_destination = _refuse


sharer_money: Port[SharerMoney] = Port("referral.sharer_money", NoMoney())
