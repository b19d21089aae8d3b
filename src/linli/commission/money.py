"""referral's ``sharer_money`` port (``referral.ports``) filled from this domain: the sharer
centre's rule set, earnings, withdrawals and withdrawal requests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from linli.commission import service, withdrawals
from linli.commission.models import RuleSetVersion, Withdrawal


class SharerMoney:
    def rule_set(self, s: Session, merchant_id: int) -> RuleSetVersion:
        return service.current(s, merchant_id)

    def earnings(self, s: Session, member_id: int, merchant_id: int, limit: int) -> service.Earnings:
        return service.earnings(s, member_id, merchant_id, limit=limit)

    def withdrawals(self, s: Session, member_id: int, merchant_id: int, limit: int) -> list[Withdrawal]:
        return withdrawals.mine(s, member_id, merchant_id, limit=limit)

    def withdraw(self, s: Session, member_id: int, merchant_id: int, amount: int, now: datetime) -> Withdrawal:
        return withdrawals.request(s, member_id, merchant_id, amount, now)
