"""The referral desk: staff read one programme's referrals one by one (newest first, by
status), each with who invited whom (phones masked, as on every staff list), the order and
what it paid, why a void is void, and every reward given for it — what was asked, what the
rewards domain granted, its cost and, when nothing could be given, why. Keyset pages
(``before``: the last id seen) so a programme with many referrals reads in steady pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.errors import Invalid
from linli.identity import service as identity
from linli.identity.rules import Permission, mask_phone
from linli.incentives.models import ProgrammeMilestone, ProgrammeReferral, ProgrammeReward, ReferralProgramme
from linli.incentives.programmes import programme_of

STATUSES = ("pending", "granted", "voided")
PAGE_MAX = 200


@dataclass(frozen=True)
class Given:
    side: str  # inviter | invitee
    milestone: int | None  # the milestone count this reward is for, None for the referral's own
    kind: str
    asked: int
    granted: int
    value: int  # fen
    failure: str | None


@dataclass(frozen=True)
class DeskRow:
    id: int
    inviter_id: int
    inviter_name: str
    inviter_phone: str
    invitee_id: int
    invitee_name: str
    invitee_phone: str
    order_id: int
    paid: int
    status: str
    void_reason: str | None
    created_at: datetime
    granted_at: datetime | None
    voided_at: datetime | None
    rewards: tuple[Given, ...]

    @property
    def cost(self) -> int:
        return sum(g.value for g in self.rewards)


@dataclass(frozen=True)
class Desk:
    programme: ReferralProgramme
    rows: list[DeskRow]
    next_before: int | None  # pass as ``before`` for the next page; None on the last


def desk(s: Session, who: identity.Principal, merchant_id: int, programme_id: int, *, status: str | None = None, before: int | None = None, limit: int = 50) -> Desk:
    identity.require_permission(s, who, merchant_id, Permission.view)
    p = programme_of(s, merchant_id, programme_id)
    if status is not None and status not in STATUSES:
        raise Invalid("referral.status_invalid", "Status is pending, granted or voided.", field="status")
    if not 1 <= limit <= PAGE_MAX:
        raise Invalid("referral.limit_invalid", f"limit is 1 to {PAGE_MAX}.", field="limit")
    q = select(ProgrammeReferral).where(ProgrammeReferral.programme_id == p.id)
    if status is not None:
        q = q.where(ProgrammeReferral.status == status)
    if before is not None:
        q = q.where(ProgrammeReferral.id < before)
    found = list(s.scalars(q.order_by(ProgrammeReferral.id.desc()).limit(limit + 1)))
    page = found[:limit]
    ids = [r.id for r in page]
    given: dict[int, list[Given]] = {}
    if ids:
        counts = dict(s.execute(select(ProgrammeMilestone.id, ProgrammeMilestone.count).where(ProgrammeMilestone.referral_id.in_(ids))).all())
        for g in s.scalars(select(ProgrammeReward).where(ProgrammeReward.referral_id.in_(ids)).order_by(ProgrammeReward.id)):
            given.setdefault(g.referral_id, []).append(Given(g.side, counts.get(g.milestone_id) if g.milestone_id else None, g.kind, g.asked, g.granted, g.value, g.failure))
    people = identity.members_by_ids(s, [m for r in page for m in (r.inviter_id, r.invitee_id)])
    rows = [DeskRow(r.id, r.inviter_id, people[r.inviter_id].nickname, mask_phone(people[r.inviter_id].phone), r.invitee_id, people[r.invitee_id].nickname,
                    mask_phone(people[r.invitee_id].phone), r.order_id, r.paid, r.status, r.void_reason, r.created_at, r.granted_at, r.voided_at, tuple(given.get(r.id, ())))
            for r in page]
    return Desk(p, rows, page[-1].id if len(found) > limit else None)
