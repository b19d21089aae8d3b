"""The events community emits — its public contract (pure: the kernel's ``EventPayload`` only).

- ``community.created`` v1: a merchant created a community (no listener yet).
- ``community.leader_changed`` v1: a community's leader was appointed, replaced or removed
  (``leader_member_id`` None). Referral makes the new leader an active sharer. Emitted at
  the time of the change (no use-case clock).
- ``member.community_set`` v1: a member chose the community they live in (no listener yet).
"""

from __future__ import annotations

from linli.events import EventPayload


class CommunityCreated(EventPayload):
    NAME = "community.created"
    community_id: int


class CommunityLeaderChanged(EventPayload):
    NAME = "community.leader_changed"
    community_id: int
    leader_member_id: int | None
    previous_member_id: int | None


class MemberCommunitySet(EventPayload):
    NAME = "member.community_set"
    member_id: int
    community_id: int
