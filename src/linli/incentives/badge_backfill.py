"""The nightly badge backfill: every member's badges recomputed from the facts, to agree with
what the events granted and revoked (RULES.md "Growth incentives": granted by the event that
reaches it and by a nightly backfill that must agree).

For each merchant that has badge facts or holders, once a Shanghai day (its first run after
midnight): every member's facts are read in a few grouped queries (``badges.facts_of``),
``badge_rules.held`` says what each should hold, and each member who differs from what they
hold is repaired by ``badges.evaluate`` in their own transaction and turn (``source``
``backfill``), so a member whose sale is being handled right now is never repaired from a
stale read. What it changed — a missed grant or revocation, or a changed threshold applied —
is the report: returned, logged, and kept per merchant and day (``BadgeCheck``) for the
console."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from linli.db import Database, insert_ignore
from linli.incentives import badge_rules, badges
from linli.incentives.models import BadgeCheck, MemberBadge, ProgrammeReferral, ReferredSale
from linli.timeutil import SHANGHAI

log = logging.getLogger("linli.incentives.badges")
REPORT_MAX = 200  # changes kept on a check's row


@dataclass
class Report:
    merchant_id: int
    granted: list[tuple[int, str]] = field(default_factory=list)  # (member, badge)
    revoked: list[tuple[int, str]] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.granted) + len(self.revoked)


def expected(s: Session, merchant_id: int) -> dict[int, set[str]]:
    """Member → the badges they should hold now, as the facts say (members with none left out)."""
    cat = badges.catalogue_of(s, merchant_id)
    held = _held(s, merchant_id)
    out = {}
    every = badges.facts_of(s, merchant_id)
    for m in set(every) | set(held):
        f = every.get(m, badge_rules.Facts())
        codes = {b.code for b in cat if badge_rules.held(b, f, b.code in held.get(m, set()))}
        if codes:
            out[m] = codes
    return out


def _held(s: Session, merchant_id: int) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for m, code in s.execute(select(MemberBadge.member_id, MemberBadge.badge).where(MemberBadge.merchant_id == merchant_id, MemberBadge.status == "held")):
        out.setdefault(m, set()).add(code)
    return out


def backfill(db: Database, merchant_id: int, as_of: datetime) -> Report:
    """Repair every member of the merchant whose badges differ from their facts."""
    with db.transaction() as s:
        want, have = expected(s, merchant_id), _held(s, merchant_id)
    report = Report(merchant_id)
    for member_id in sorted(m for m in set(want) | set(have) if want.get(m, set()) != have.get(m, set())):
        with db.transaction() as s:
            for c in badges.evaluate(s, merchant_id, member_id, as_of, source="backfill"):
                (report.granted if c.granted else report.revoked).append((c.member_id, c.badge))
    if report.changed:
        log.warning("badge backfill repaired merchant %s: granted %s, revoked %s", merchant_id, report.granted, report.revoked)
    return report


def _merchants(s: Session) -> list[int]:
    q = union(select(ReferredSale.merchant_id), select(ProgrammeReferral.merchant_id).where(ProgrammeReferral.status == "granted"), select(MemberBadge.merchant_id))
    return sorted(m for (m,) in s.execute(q))


def run_nightly(db: Database, as_of: datetime) -> int:
    """Each merchant's backfill, once per Shanghai day; how many badges it changed."""
    day = as_of.astimezone(SHANGHAI).date().isoformat()
    with db.transaction() as s:
        done = set(s.scalars(select(BadgeCheck.merchant_id).where(BadgeCheck.day == day)))
        todo = [m for m in _merchants(s) if m not in done]
    changed = 0
    for merchant_id in todo:
        r = backfill(db, merchant_id, as_of)
        changes = [[m, b, "granted"] for m, b in r.granted] + [[m, b, "revoked"] for m, b in r.revoked]
        with db.transaction() as s:
            s.execute(insert_ignore(s, BadgeCheck, {"merchant_id": merchant_id, "day": day, "ran_at": as_of, "granted": len(r.granted), "revoked": len(r.revoked),
                                                    "changes": changes[:REPORT_MAX]}, ["merchant_id", "day"]))
        changed += r.changed
    return changed


def last_check(s: Session, merchant_id: int) -> BadgeCheck | None:
    return s.scalars(select(BadgeCheck).where(BadgeCheck.merchant_id == merchant_id).order_by(BadgeCheck.day.desc()).limit(1)).first()
