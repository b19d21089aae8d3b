"""The events commission emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``withdrawal.approved`` v1: a withdrawal was approved (automatically under the merchant's
  limit, or by staff). Commission's own handler pays it out through the payout port.
"""

from __future__ import annotations

from linli.events import EventPayload


class WithdrawalApproved(EventPayload):
    NAME = "withdrawal.approved"
    withdrawal_id: int
    merchant_id: int
    member_id: int
