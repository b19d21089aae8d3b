"""The events identity emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``member.joined`` v1: a phone logs in for the first time, or a member is created for
  staff or a merchant owner. Referral binds the invite code it carries, if any.
- ``member.arrived_with_code`` v1: a known member logs in with an invite code. Referral
  binds or rebinds them by the merchant's mode.
  Both carry the login's ``edge`` (absent in rows written before it, or outside a request),
  which referral passes on to ``member.bound``.
- ``member.logged_in`` v1: a phone logged in (every time), with the request's ``edge``
  (hashed device and IP) when a request was behind it. Risk records the login's signals.
- ``merchant.created`` v1: the platform created a merchant (no listener yet).
- ``staff.added`` v1: a merchant added a staff member (no listener yet).
"""

from __future__ import annotations

from linli.edge import EdgeFacts
from linli.events import EventPayload, IsoDatetime


class MemberJoined(EventPayload):
    NAME = "member.joined"
    member_id: int
    invite_code: str | None
    at: IsoDatetime
    edge: EdgeFacts | None = None


class MemberArrivedWithCode(EventPayload):
    NAME = "member.arrived_with_code"
    member_id: int
    invite_code: str
    at: IsoDatetime
    edge: EdgeFacts | None = None


class MemberLoggedIn(EventPayload):
    NAME = "member.logged_in"
    member_id: int
    at: IsoDatetime
    edge: EdgeFacts | None = None


class MerchantCreated(EventPayload):
    NAME = "merchant.created"
    merchant_id: int
    owner_member_id: int


class StaffAdded(EventPayload):
    NAME = "staff.added"
    merchant_id: int
    member_id: int
    role: str
