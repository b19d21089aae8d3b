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
