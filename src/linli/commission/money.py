"""referral's ``sharer_money`` port (``referral.ports``) filled from this domain: the sharer
centre's rule set, earnings, withdrawals, withdrawal requests and where they go."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from linli.commission import destinations, service, withdrawals
from linli.commission.models import PayoutDestination, RuleSetVersion, Withdrawal


class SharerMoney:
    def rule_set(self, s: Session, merchant_id: int) -> RuleSetVersion:
        return service.current(s, merchant_id)

    def earnings(self, s: Session, member_id: int, merchant_id: int, limit: int) -> service.Earnings:
        return service.earnings(s, member_id, merchant_id, limit=limit)

    def withdrawals(self, s: Session, member_id: int, merchant_id: int, limit: int) -> list[Withdrawal]:
        return withdrawals.mine(s, member_id, merchant_id, limit=limit)

    def withdraw(self, s: Session, member_id: int, merchant_id: int, amount: int, now: datetime) -> Withdrawal:
        return withdrawals.request(s, member_id, merchant_id, amount, now)

    def destination(self, s: Session, member_id: int) -> PayoutDestination | None:
        return destinations.of(s, member_id)

    def set_destination(self, s: Session, member_id: int, prefer: str, alipay_account: str, alipay_name: str, now: datetime) -> PayoutDestination:
        return destinations.save(s, member_id, prefer, alipay_account, alipay_name, now)
