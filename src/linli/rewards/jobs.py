"""Rewards' due jobs: the nightly level recompute (growth leaving the 365-day window, yearly
reviews and their notices), the birthday coupons, and points expiry with its reminder. All are
idempotent: a member is recomputed once a Shanghai day (and at their review), a birthday
coupon is keyed by year, a lot expires and is reminded of once."""

from __future__ import annotations

from datetime import datetime

from linli.db import Database
from linli.jobs import job
from linli.rewards import expiry, grants, levels


@job("rewards.levels_nightly", order=60)
def levels_nightly(db: Database, as_of: datetime) -> int:
    """Every member's level once a day, and at their yearly review."""
    return levels.run_nightly(db, as_of)


@job("rewards.birthday_coupons", order=65)
def birthday_coupons(db: Database, as_of: datetime) -> int:
    """Today's birthday coupons, after the levels are current."""
    return grants.grant_birthdays(db, as_of)


@job("rewards.points_expiry_reminder", order=60)
def points_expiry_reminder(db: Database, as_of: datetime) -> int:
    """Lots expiring within 30 days: one ``rewards.points_expiring`` event each, once."""
    return expiry.remind_due(db, as_of)


@job("rewards.points_expiry", order=61)
def points_expiry(db: Database, as_of: datetime) -> int:
    """Available lots past their expiry: what they hold expires, once."""
    return expiry.expire_due(db, as_of)
