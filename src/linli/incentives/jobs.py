"""Incentives' due job: the backstop that grants referrals still pending on a completed
order (a completion handler that found the invitee's turn taken is retried as well; this
makes sure nothing waits for ever). Idempotent: a referral moves from pending once."""

from __future__ import annotations

from datetime import datetime

from linli.db import Database
from linli.incentives import referrals
from linli.jobs import job


@job("incentives.grant_completed", order=35)
def grant_completed(db: Database, as_of: datetime) -> int:
    """Pending referrals whose order completed (after ``orders.complete``): granted or voided."""
    return referrals.grant_completed(db, as_of)
