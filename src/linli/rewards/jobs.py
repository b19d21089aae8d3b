"""Rewards' due jobs."""

from __future__ import annotations

from datetime import datetime

from linli.db import Database
from linli.jobs import job
from linli.rewards import expiry


@job("rewards.points_expiry_reminder", order=60)
def points_expiry_reminder(db: Database, as_of: datetime) -> int:
    """Lots expiring within 30 days: one ``rewards.points_expiring`` event each, once."""
    return expiry.remind_due(db, as_of)


@job("rewards.points_expiry", order=61)
def points_expiry(db: Database, as_of: datetime) -> int:
    """Available lots past their expiry: what they hold expires, once."""
    return expiry.expire_due(db, as_of)
