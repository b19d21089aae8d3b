"""The events incentives emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``referral.pending`` v1: an invitee's first received order qualified for a programme and
  took a place under the inviter's monthly cap: the rewards wait for its after-sales window.
- ``referral.granted`` v1: that window closed: the programme's rewards were granted
  (``reached``: the milestone counts this grant reached, each granted once). Leaderboards
  and badges (issue 13, later parts) count these.
- ``referral.voided`` v1: a pending referral will never be granted (``reason``: refunded —
  its order's net paid fell below the minimum — or monthly_cap — the inviter's month was full).
- ``badge.granted`` v1: a member now holds a badge (``badge``: recommender, first_sale,
  gmv_bronze, gmv_silver, gmv_gold) — ``source`` ``event`` when the sale or referral that
  reached it was handled, ``backfill`` when the nightly check repaired a missed grant or
  applied a lowered threshold; ``value`` the metric then and ``threshold`` what it needed
  (granted referrals within 90 days, sales, or fen of referred GMV).
- ``badge.revoked`` v1: a revocable badge went (a refund took its metric below the
  threshold, or a raised threshold did), with the same fields.

Amounts are fen.
"""

from __future__ import annotations

from linli.events import EventPayload, IsoDatetime


class ReferralFacts(EventPayload):
    """What every referral event carries (a base: never emitted as such)."""

    referral_id: int
    programme_id: int
    merchant_id: int
    inviter_id: int
    invitee_id: int
    order_id: int
    paid: int
    at: IsoDatetime


class ReferralPending(ReferralFacts):
    NAME = "referral.pending"


class ReferralGranted(ReferralFacts):
    NAME = "referral.granted"
    reached: tuple[int, ...]


class ReferralVoided(ReferralFacts):
    NAME = "referral.voided"
    reason: str


class BadgeFacts(EventPayload):
    """What both badge events carry (a base: never emitted as such)."""

    merchant_id: int
    member_id: int
    badge: str
    source: str
    value: int
    threshold: int
    at: IsoDatetime


class BadgeGranted(BadgeFacts):
    NAME = "badge.granted"


class BadgeRevoked(BadgeFacts):
    NAME = "badge.revoked"
