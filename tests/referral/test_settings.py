"""Referral settings: ``configure`` refuses values outside the spec itself and writes nothing."""

from __future__ import annotations

import pytest

from linli.errors import Invalid
from linli.referral import service as referral
from linli.referral.models import ReferralSettings
from tests.merchants import new_merchant

GOOD = dict(bind_mode="protected", protection_days=30, sharer_mode="spend_threshold", spend_threshold=10_000)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"protection_days": 366}, "referral.protection_invalid"),
        ({"protection_days": -1}, "referral.protection_invalid"),
        ({"spend_threshold": 100_000_001}, "referral.threshold_invalid"),
        ({"bind_mode": "forever"}, "referral.mode_invalid"),
        ({"sharer_mode": "anyone"}, "referral.mode_invalid"),
    ],
)
def test_configure_refuses_settings_out_of_bounds_and_writes_nothing(db, change, code):
    mid, _ = new_merchant(db)
    with db.transaction() as s:
        with pytest.raises(Invalid) as e:
            referral.configure(s, mid, **{**GOOD, **change})
        assert e.value.code == code and e.value.extra["field"] == next(iter(change))
        s.flush()
        assert s.get(ReferralSettings, mid) is None
    with db.transaction() as s:
        assert s.get(ReferralSettings, mid) is None
        assert referral.settings_for(s, mid).protection_days == referral.SETTINGS.default("protection_days")


def test_the_refusal_carries_the_bounds(db):
    mid, _ = new_merchant(db)
    with db.transaction() as s:
        with pytest.raises(Invalid) as e:
            referral.configure(s, mid, **{**GOOD, "spend_threshold": 100_000_001})
    assert e.value.extra == {"field": "spend_threshold", "lo": 0, "hi": 100_000_000}
