"""The events rewards emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``rewards.level_changed`` v1: a member's level at a merchant changed (``rank`` None: no
  level; ``previous_rank`` what it was). An upgrade is immediate, on the order events or the
  nightly recompute; a downgrade happens only at the yearly review. No listener yet.
- ``rewards.level_downgrade_notice`` v1: the member's growth no longer reaches their level
  and the review (``review_at``) is at most 30 days away: at the review they go to
  ``to_rank`` (None: no level) unless their growth recovers. Once per review. No listener
  yet (automation sends it).
- ``rewards.points_expiring`` v1: a member's points expire at ``expires_at`` (about 30 days
  from now): ``points`` is what their lots expiring then still hold. Once per lot (lots
  expiring at the same instant share one event). The SMS and automation issue consumes it.

- ``rewards.stored_value_payout_due`` v1: principal is to be paid back to a top-up's payment
  (``payout_id``: a principal refund, a refund bringing stored value over the cap, or
  principal held back whose bonus came back). Rewards' own handler asks the gateway.

Points are integers (one point is worth one fen when redeemed).
"""

from __future__ import annotations

from linli.events import EventPayload, IsoDatetime


class LevelChanged(EventPayload):
    NAME = "rewards.level_changed"
    merchant_id: int
    member_id: int
    rank: int | None
    level: str | None
    previous_rank: int | None
    growth: int
    at: IsoDatetime


class LevelDowngradeNotice(EventPayload):
    NAME = "rewards.level_downgrade_notice"
    merchant_id: int
    member_id: int
    rank: int
    level: str
    to_rank: int | None
    to_level: str | None
    growth: int
    review_at: IsoDatetime


class PointsExpiring(EventPayload):
    NAME = "rewards.points_expiring"
    merchant_id: int
    member_id: int
    points: int
    expires_at: IsoDatetime


class StoredValuePayoutDue(EventPayload):
    NAME = "rewards.stored_value_payout_due"
    merchant_id: int
    member_id: int
    payout_id: int
    amount: int
