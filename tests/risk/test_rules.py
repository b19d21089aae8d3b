"""Risk's pure rules: which signals two members share, address and phone normalisation,
the retention cutoff."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.risk import rules
from linli.risk.rules import SignalSet, shared_signals

hashes = st.frozensets(st.text(alphabet="0123456789abcdef", min_size=4, max_size=8), max_size=5)
sets = st.builds(SignalSet, phone=hashes, device=hashes, payer=hashes, address=hashes)


def test_two_members_on_one_device_share_the_device_only():
    a = SignalSet(phone=frozenset({"p1"}), device=frozenset({"d1", "d2"}), payer=frozenset({"y1"}))
    b = SignalSet(phone=frozenset({"p2"}), device=frozenset({"d2"}), payer=frozenset({"y2"}), address=frozenset({"a1"}))
    assert shared_signals(a, b) == {"device": frozenset({"d2"})}


def test_strangers_share_nothing():
    assert shared_signals(SignalSet(phone=frozenset({"p1"})), SignalSet(phone=frozenset({"p2"}))) == {}
    assert shared_signals(SignalSet(), SignalSet()) == {}


def test_rows_fold_into_a_set_and_empty_values_are_not_signals():
    s = SignalSet.of([{"phone": "p", "device": None, "payer": "", "address": "a"}, {"device": "d", "ip": "ignored"}])
    assert s == SignalSet(phone=frozenset({"p"}), device=frozenset({"d"}), address=frozenset({"a"}))


@given(sets, sets)
def test_sharing_is_symmetric_and_exactly_the_intersections(a, b):
    shared = shared_signals(a, b)
    assert shared == shared_signals(b, a)
    for kind in rules.SHARED_KINDS:
        common = getattr(a, kind) & getattr(b, kind)
        assert shared.get(kind, frozenset()) == common
        assert (kind in shared) == bool(common)


@given(sets)
def test_a_member_shares_every_kind_it_has_with_itself(a):
    assert set(shared_signals(a, a)) == {k for k in rules.SHARED_KINDS if getattr(a, k)}


def test_addresses_match_whatever_the_spacing_width_and_punctuation():
    one = rules.normalize_address({"text": "幸福里 3栋 501"})
    assert one == rules.normalize_address({"text": "幸福里3栋501"}) == rules.normalize_address({"text": "幸福里３栋，５０１ "})
    assert one != rules.normalize_address({"text": "幸福里3栋502"})
    assert rules.normalize_address(None) is None and rules.normalize_address({"text": " ，"}) is None and rules.normalize_address({"text": 5}) is None


def test_phones_lose_the_country_code_and_separators():
    assert rules.normalize_phone("+86 138-0013-8000") == rules.normalize_phone("13800138000") == "13800138000"
    assert rules.normalize_phone("") is None and rules.normalize_phone(None) is None
    assert rules.recipient_phone({"phone": "138 0013 8000"}) == "13800138000" and rules.recipient_phone(None) is None


def test_the_retention_cutoff():
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert rules.retention_cutoff(now, 180) == now - timedelta(days=180)
    with pytest.raises(ValueError):
        rules.retention_cutoff(now, 0)


# --- the sharer rules at their thresholds (RULES.md: velocity > 5 an hour or > 20 a day,
# refunds > 30% of attributed orders) --------------------------------------------------------

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
minutes_back = st.lists(st.integers(min_value=0, max_value=3 * 24 * 60), max_size=60)


@given(minutes_back)
def test_velocity_fires_exactly_above_five_an_hour_or_twenty_a_day(back):
    times = [NOW - timedelta(minutes=m, seconds=1) for m in back]
    hour = sum(1 for m in back if m < 60)  # paid within the last hour
    day = sum(1 for m in back if m < 24 * 60)
    got = rules.over_velocity(times, NOW, per_hour=5, per_day=20)
    assert (got is not None) == (hour > 5 or day > 20)
    if got is not None:
        assert got == (hour, day)
    # One more order now never turns a firing rule off.
    assert got is None or rules.over_velocity([*times, NOW], NOW, 5, 20) is not None


def test_velocity_at_the_threshold_and_one_above():
    five = [NOW - timedelta(minutes=i) for i in range(5)]
    assert rules.over_velocity(five, NOW, 5, 20) is None
    assert rules.over_velocity([*five, NOW - timedelta(minutes=30)], NOW, 5, 20) == (6, 6)
    twenty = [NOW - timedelta(hours=1, minutes=i * 30) for i in range(20)]  # none in the last hour
    assert rules.over_velocity(twenty, NOW, 5, 20) is None
    assert rules.over_velocity([*twenty, NOW - timedelta(hours=23)], NOW, 5, 20) == (0, 21)
    assert rules.over_velocity([NOW - timedelta(days=1)] * 50, NOW, 5, 20) is None  # a day ago exactly: outside
    assert rules.over_velocity([NOW + timedelta(minutes=1)] * 50, NOW, 5, 20) is None  # not yet


@given(st.integers(min_value=0, max_value=500), st.integers(min_value=0, max_value=500))
def test_refund_rate_fires_exactly_above_thirty_percent_of_at_least_the_minimum(orders, refunded):
    refunded = min(refunded, orders)
    fired = rules.over_refund_rate(orders, refunded, min_orders=5, max_bp=3000)
    assert fired == (orders >= 5 and refunded * 10 > orders * 3)


def test_refund_rate_at_the_threshold():
    assert not rules.over_refund_rate(10, 3, 5, 3000)  # exactly 30%
    assert rules.over_refund_rate(10, 4, 5, 3000)
    assert not rules.over_refund_rate(4, 4, 5, 3000)  # 100% of too few orders
    assert rules.refund_rate_bp(3, 1) == 3333 and rules.refund_rate_bp(0, 0) == 0


def test_clusters_count_distinct_members_on_devices_and_addresses_never_ips():
    seen = {("device", "d1"): [1, 2, 2, 3], ("address", "a1"): [4, 5], ("ip", "i1"): [1, 2, 3, 4, 5, 6]}
    assert rules.clusters(seen, 3) == [("device", "d1", (1, 2, 3))]
    assert rules.clusters(seen, 4) == []


def test_only_through_one_sharer_needs_every_buyer_new_and_loyal():
    loyal = {b: (True, frozenset({7})) for b in range(50)}
    assert rules.only_through(7, loyal, 50)
    assert not rules.only_through(7, dict(list(loyal.items())[:49]), 50)
    assert not rules.only_through(7, {**loyal, 99: (False, frozenset({7}))}, 50)  # one long-standing customer
    assert not rules.only_through(7, {**loyal, 99: (True, frozenset({7, 8}))}, 50)  # one also buys through another


def test_cross_area_is_strictly_beyond_the_limit():
    assert not rules.cross_area(3000, 3000) and rules.cross_area(3001, 3000) and not rules.cross_area(None, 3000)
