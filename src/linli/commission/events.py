"""The events commission emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``withdrawal.approved`` v1: a withdrawal was approved (automatically under the merchant's
  limit, or by staff). Commission's own handler pays it out through the payout port.
- ``commission.clawed_back`` v1: a sharer's held and frozen commission was taken back by a
  decision on a hold (``reason``: the hold's, e.g. ``risk:<case>``; ``amount`` fen).
  Incentives voids the referral rewards that were waiting for the sharer.
"""

from __future__ import annotations

from linli.events import EventPayload


class WithdrawalApproved(EventPayload):
    NAME = "withdrawal.approved"
    withdrawal_id: int
    merchant_id: int
    member_id: int


class CommissionClawedBack(EventPayload):
    NAME = "commission.clawed_back"
    merchant_id: int
    member_id: int
    reason: str
    amount: int
