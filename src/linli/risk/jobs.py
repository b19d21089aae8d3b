"""Risk's due job: signals past their retention (``Settings.risk_signal_retention_days``,
default 180) are deleted. Idempotent: a second run finds nothing to delete."""

from __future__ import annotations

from datetime import datetime

from linli.db import Database
from linli.jobs import job
from linli.risk import signals


@job("risk.signal_retention", order=95)
def purge_signals(db: Database, as_of: datetime) -> int:
    with db.transaction() as s:
        return signals.purge(s, as_of)
