"""A domain's settings spec: defaults, bounds, and the refusal a service answers with."""

from __future__ import annotations

import pytest

from linli.commission.rules import SETTINGS as COMMISSION
from linli.errors import Invalid
from linli.knobs import Knob, Spec
from linli.orders.rules import SETTINGS as ORDERS
from linli.referral.rules import SETTINGS as REFERRAL

SPEC = Spec("shop", (
    Knob("minutes", 15, 5, 60, unit="minutes"),
    Knob("mode", "a", choices=("a", "b")),
    Knob("on", True),
    Knob("rates", (10, 20), 0, 100, code="shop.rate_invalid"),
))


def _refusal(values) -> Invalid:
    with pytest.raises(Invalid) as e:
        SPEC.check(values)
    return e.value


def test_defaults_and_bounds_come_from_the_one_description():
    assert SPEC.defaults() == {"minutes": 15, "mode": "a", "on": True, "rates": [10, 20]}
    assert SPEC.defaults("minutes") == {"minutes": 15}
    assert SPEC.bounds("minutes") == (5, 60) and SPEC.names == ("minutes", "mode", "on", "rates")
    assert SPEC.check({"minutes": 5, "mode": "b", "on": False, "rates": [0, 100]}) == {"minutes": 5, "mode": "b", "on": False, "rates": [0, 100]}


def test_a_value_out_of_bounds_is_refused_with_the_field_and_what_it_allows():
    e = _refusal({"minutes": 61})
    assert (e.code, e.extra) == ("shop.settings_out_of_bounds", {"field": "minutes", "lo": 5, "hi": 60})
    assert _refusal({"mode": "c"}).extra == {"field": "mode", "choices": ["a", "b"]}
    assert _refusal({"rates": [10, 101]}).code == "shop.rate_invalid"  # a knob's own code
    assert _refusal({"minutes": 20, "mode": "c", "on": 1}).extra["field"] == "mode"  # the first wrong, in the order given
    for wrong in ({"minutes": True}, {"minutes": "20"}, {"minutes": 20.0}, {"on": 1}, {"nope": 1}):
        assert _refusal(wrong).code == "shop.settings_out_of_bounds"
    assert _refusal({"rates": 10}).code == "shop.rate_invalid"  # a list setting takes a list


def test_a_spec_refuses_to_describe_a_setting_badly():
    with pytest.raises(ValueError):
        Knob("minutes", 3, 5, 60)  # the default outside its own bounds
    with pytest.raises(ValueError):
        Knob("mode", "a")  # a text setting without choices
    with pytest.raises(ValueError):
        Spec("shop", (Knob("a", 1, 0, 2), Knob("a", 1, 0, 2)))


def test_the_domains_specs_keep_the_rules_md_defaults_and_their_stable_codes():
    assert ORDERS.defaults() == {"unpaid_minutes": 15, "auto_confirm_days": 7, "after_sales_days": 7, "quick_refund_max": 3000, "quick_refund_hours": 48, "delivery_radius_m": 3000, "max_qty_per_line": 99}
    assert REFERRAL.defaults() == {"bind_mode": "first_touch", "protection_days": 30, "sharer_mode": "everyone_after_purchase", "spend_threshold": 0, "session_attribution": True}
    assert COMMISSION.default("rates_bp") == (2000, 500) and COMMISSION.bounds("levels") == (1, 3)
    assert ORDERS.code == "order.settings_invalid" and REFERRAL["protection_days"].code == "referral.protection_invalid"
    assert COMMISSION["withdraw_fee_bp"].code == "commission.withdraw_fee_bp_invalid"
