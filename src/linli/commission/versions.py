"""The commission rule set in force at a merchant (the newest saved version, else the
defaults): read by accrual, settlement, holds, withdrawals and bonuses alike."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.commission import rules
from linli.commission.models import RuleSetVersion

# The rule set in force before a merchant saves one (defaults: ``rules.SETTINGS``).
DEFAULTS = dict(rules.SETTINGS.defaults(), overrides={}, bonus_tiers=[], withdraw_daily_count=rules.WITHDRAW_DAILY_COUNT)


def current(s: Session, merchant_id: int) -> RuleSetVersion:
    row = s.scalars(select(RuleSetVersion).where(RuleSetVersion.merchant_id == merchant_id).order_by(RuleSetVersion.version.desc()).limit(1)).first()
    return row or RuleSetVersion(merchant_id=merchant_id, version=0, **DEFAULTS)
