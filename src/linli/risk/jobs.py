"""Risk's due jobs: signals past their retention (``Settings.risk_signal_retention_days``,
default 180) are deleted; open cases past their SLA are flagged. Idempotent: a second run
finds nothing to do."""

from __future__ import annotations

import logging
from datetime import datetime

from linli.db import Database
from linli.jobs import job
from linli.risk import cases, signals


@job("risk.signal_retention", order=95)
def purge_signals(db: Database, as_of: datetime) -> int:
    with db.transaction() as s:
        return signals.purge(s, as_of)


log = logging.getLogger("linli.risk")


@job("risk.case_sla", order=96)
def remind_overdue(db: Database, as_of: datetime) -> int:
    """Open cases past their SLA (``sla_days``) are flagged once, logged for the staff on
    duty, and listed first on the desk as 逾期."""
    with db.transaction() as s:
        due = cases.remind_overdue(s, as_of)
        for case in due:
            log.warning("risk case %s (merchant %s, sharer %s) is past its SLA (due %s)", case.id, case.merchant_id, case.member_id, case.due_at.isoformat())
        return len(due)
