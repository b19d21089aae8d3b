"""The rule set's settings: ``put_rules`` refuses what is outside commission's spec, or
referral's (through ``referral.configure``), itself, and writes nothing; the API's schema
takes every bound from the owners' specs."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from linli.commission import service
from linli.commission.api import RulesIn
from linli.commission.models import RuleSetVersion
from linli.commission.rules import SETTINGS as COMMISSION
from linli.errors import Invalid
from linli.orders.rules import SETTINGS as ORDERS
from linli.referral.models import ReferralSettings
from linli.referral.rules import SETTINGS as REFERRAL
from tests.merchants import NOW, new_merchant

GOOD = service.RuleSetInput(
    levels=2, rates_bp=[2000, 500], leader_rate_bp=1500, cap_bp=5000, self_purchase=False, settlement="realtime", withdraw_min=100, withdraw_fee_bp=0,
    withdraw_auto_max=50_000, overrides={}, bonus_tiers=[], bind_mode="first_touch", protection_days=30, sharer_mode="everyone_after_purchase", spend_threshold=0,
)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"withdraw_fee_bp": 2001}, "commission.withdraw_fee_bp_invalid"),
        ({"withdraw_min": 0}, "commission.withdraw_min_invalid"),
        ({"withdraw_auto_max": 100_000_001}, "commission.withdraw_auto_max_invalid"),
        ({"settlement": "weekly"}, "commission.settlement_invalid"),
        ({"cap_bp": 10_001}, "commission.cap_invalid"),
        ({"leader_rate_bp": 10_001, "cap_bp": 10_000}, "commission.rate_invalid"),
        ({"protection_days": 366}, "referral.protection_invalid"),
        ({"spend_threshold": 100_000_001}, "referral.threshold_invalid"),
    ],
)
def test_put_rules_refuses_settings_out_of_bounds_and_writes_nothing(db, change, code):
    mid, owner = new_merchant(db)
    with db.transaction() as s:
        with pytest.raises(Invalid) as e:
            service.put_rules(s, owner, mid, dataclasses.replace(GOOD, **change), 2, NOW)
        assert e.value.code == code
        s.flush()
        assert s.scalar(select(func.count()).select_from(RuleSetVersion)) == 0 and s.get(ReferralSettings, mid) is None
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RuleSetVersion)) == 0 and s.get(ReferralSettings, mid) is None
        assert service.current(s, mid).withdraw_fee_bp == 0


def test_the_rules_input_takes_its_bounds_from_each_owners_spec():
    def bounds(name):
        metadata = RulesIn.model_fields[name].metadata
        return next(m.ge for m in metadata if hasattr(m, "ge")), next(m.le for m in metadata if hasattr(m, "le"))

    assert bounds("protection_days") == REFERRAL.bounds("protection_days") and bounds("spend_threshold") == REFERRAL.bounds("spend_threshold")
    assert bounds("auto_confirm_days") == ORDERS.bounds("auto_confirm_days") and bounds("after_sales_days") == ORDERS.bounds("after_sales_days")
    defaults = RulesIn().model_dump()
    assert {k: defaults[k] for k in COMMISSION.names} == COMMISSION.defaults() == {k: service.DEFAULTS[k] for k in COMMISSION.names}
    assert (defaults["bind_mode"], defaults["auto_confirm_days"]) == (REFERRAL.default("bind_mode"), ORDERS.default("auto_confirm_days"))
