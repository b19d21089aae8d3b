"""The events rewards emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``rewards.points_expiring`` v1: a member's points expire at ``expires_at`` (about 30 days
  from now): ``points`` is what their lots expiring then still hold. Once per lot (lots
  expiring at the same instant share one event). The SMS and automation issue consumes it.

Points are integers (one point is worth one fen when redeemed).
"""

from __future__ import annotations

from linli.events import EventPayload, IsoDatetime


class PointsExpiring(EventPayload):
    NAME = "rewards.points_expiring"
    merchant_id: int
    member_id: int
    points: int
    expires_at: IsoDatetime
