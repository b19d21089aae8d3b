"""Rewards' due jobs: the nightly level recompute (growth leaving the 365-day window, yearly
reviews and their notices) and the birthday coupons. Both are idempotent: a member is
recomputed once a Shanghai day (and at their review), a birthday coupon is keyed by year."""

from __future__ import annotations

from datetime import datetime

from linli.db import Database
from linli.jobs import job
from linli.rewards import grants, levels


@job("rewards.levels_nightly", order=60)
def levels_nightly(db: Database, as_of: datetime) -> int:
    """Every member's level once a day, and at their yearly review."""
    return levels.run_nightly(db, as_of)


@job("rewards.birthday_coupons", order=65)
def birthday_coupons(db: Database, as_of: datetime) -> int:
    """Today's birthday coupons, after the levels are current."""
    return grants.grant_birthdays(db, as_of)
