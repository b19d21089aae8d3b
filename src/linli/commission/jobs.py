"""Commission's due jobs."""

from __future__ import annotations

from datetime import datetime

from linli.commission import bonus, settlement, withdrawals
from linli.db import Database
from linli.jobs import job


@job("commission.settle_t_plus_1", order=40)
def settle_t_plus_1(db: Database, as_of: datetime) -> int:
    """The daily batch: records of orders completed before today become available."""
    return settlement.settle_due(db, as_of)


@job("commission.monthly_bonus", order=50)
def monthly_bonus(db: Database, as_of: datetime) -> int:
    """At month close: tiered bonuses on last month's settled, non-refunded GMV."""
    return bonus.close_month(db, as_of)


@job("commission.reconcile_payouts", order=45)
def reconcile_payouts(db: Database, as_of: datetime) -> int:
    """Payouts left `paying` past the grace period: ask the gateway and finish them."""
    return withdrawals.reconcile(db, as_of)
