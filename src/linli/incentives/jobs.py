"""Incentives' due jobs: the backstop that grants referrals still pending on a completed
order (a completion handler that found the invitee's turn taken is retried as well; this
makes sure nothing waits for ever), the nightly badge backfill, and the honours frozen after
a week or a month closes. Idempotent: a referral moves from pending once; a badge changes
only where the facts say it differs, and each merchant is checked once a Shanghai day; an
honour is frozen once (a unique close row)."""

from __future__ import annotations

from datetime import datetime

from linli.db import Database
from linli.incentives import badge_backfill, honours, referrals
from linli.jobs import job


@job("incentives.grant_completed", order=35)
def grant_completed(db: Database, as_of: datetime) -> int:
    """Pending referrals whose order completed (after ``orders.complete``): granted or voided."""
    return referrals.grant_completed(db, as_of)


@job("incentives.badges_nightly", order=70)
def badges_nightly(db: Database, as_of: datetime) -> int:
    """Badges recomputed from the facts once a day (after the grants above): what the events
    missed is repaired and reported."""
    return badge_backfill.run_nightly(db, as_of)


@job("incentives.honours", order=90)
def freeze_honours(db: Database, as_of: datetime) -> int:
    """Closed weeks and months frozen into honours (周度分享之星, 月度金牌分享官), once each."""
    return honours.freeze_due(db, as_of)
