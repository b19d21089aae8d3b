"""The events referral emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``member.bound`` v1: an invitee was bound (or rebound) to the inviter of ``code``, with
  the invitee's request ``edge`` (hashed device and IP; absent in older rows or without a
  request). Risk records the binding's signals.
- ``sharer.activated`` v1: a member became an active sharer (分享官), or was reinstated.
  Commission releases the hold a suspension put on their frozen commission.
- ``sharer.suspended`` v1: staff suspended a sharer. Commission holds their frozen
  commission until the case closes.
- ``code.visited`` v1: someone opened an invite link (the landing ``/i/{code}``): the code's
  owner, the campaign of a campaign code, the visitor when logged in. Analytics counts the
  funnel's visits.
- ``code.shared`` v1: a sharer took a share poster of their code (saved it, or an app asked
  for it; the sharer centre's preview is not a share). Analytics counts the funnel's shares.
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


class CodeVisited(EventPayload):
    NAME = "code.visited"
    merchant_id: int
    sharer_id: int
    code: str
    campaign_id: int | None
    visitor_id: int | None


class CodeShared(EventPayload):
    NAME = "code.shared"
    merchant_id: int
    sharer_id: int
    code: str
    product_id: int | None
