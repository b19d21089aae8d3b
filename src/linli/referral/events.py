"""The events referral emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``member.bound`` v1: an invitee was bound (or rebound) to the inviter of ``code``, with
  the invitee's request ``edge`` (hashed device and IP; absent in older rows or without a
  request). Risk records the binding's signals.
- ``sharer.activated`` v1: a member became an active sharer (分享官), or was reinstated.
  Commission releases the hold a suspension put on their frozen commission.
- ``sharer.suspended`` v1: staff suspended a sharer. Commission holds their frozen
  commission until the case closes.
"""

from __future__ import annotations

from linli.edge import EdgeFacts
from linli.events import EventPayload


class MemberBound(EventPayload):
    NAME = "member.bound"
    merchant_id: int
    invitee_id: int
    inviter_id: int
    code: str
    edge: EdgeFacts | None = None


class SharerActivated(EventPayload):
    NAME = "sharer.activated"
    merchant_id: int
    member_id: int


class SharerSuspended(EventPayload):
    NAME = "sharer.suspended"
    merchant_id: int
    member_id: int
