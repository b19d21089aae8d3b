"""The events rewards emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``rewards.level_changed`` v1: a member's level at a merchant changed (``rank`` None: no
  level; ``previous_rank`` what it was). An upgrade is immediate, on the order events or the
  nightly recompute; a downgrade happens only at the yearly review. No listener yet.
- ``rewards.level_downgrade_notice`` v1: the member's growth no longer reaches their level
  and the review (``review_at``) is at most 30 days away: at the review they go to
  ``to_rank`` (None: no level) unless their growth recovers. Once per review. No listener
  yet (automation sends it).
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
