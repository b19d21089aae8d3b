"""Money helpers: integer fen, basis points, floors, and exact proportional splits."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from linli.money import BP_WHOLE, allocate_proportionally, apply_bp_floor, check_bp, check_fen, format_yuan

fen = st.integers(min_value=0, max_value=10**12)
weights = st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=30)


@given(total=fen, ws=weights)
@example(total=1, ws=[1, 1, 1])
@example(total=100, ws=[1, 1, 1])
@example(total=7, ws=[0, 0, 0])
@example(total=10**12, ws=[10**9 - 1, 1])
def test_allocation_sums_exactly_and_stays_within_a_fen_of_fair(total, ws):
    parts = allocate_proportionally(total, ws)
    assert len(parts) == len(ws)
    assert sum(parts) == total
    assert all(isinstance(p, int) and p >= 0 for p in parts)
    wsum = sum(ws)
    for p, w in zip(parts, ws):
        fair = Fraction(total * w, wsum) if wsum else Fraction(total, len(ws))
        # Floor first, then at most one leftover fen: never more than a fen from fair.
        assert p in (fair.numerator // fair.denominator, fair.numerator // fair.denominator + 1)
        assert abs(p - fair) < 1


@given(total=fen, ws=weights)
def test_allocation_is_monotonic_and_ties_go_to_the_earlier_part(total, ws):
    parts = allocate_proportionally(total, ws)
    for i in range(len(ws)):
        for j in range(i + 1, len(ws)):
            if ws[i] > ws[j]:
                assert parts[i] >= parts[j]
            elif ws[i] == ws[j]:
                assert parts[i] in (parts[j], parts[j] + 1)  # the earlier part takes the extra fen


@given(total=fen, ws=weights)
def test_leftover_fen_go_to_largest_remainders(total, ws):
    wsum = sum(ws)
    if wsum == 0:
        return
    parts = allocate_proportionally(total, ws)
    floors = [total * w // wsum for w in ws]
    rems = [total * w % wsum for w in ws]
    got_extra = [i for i, (p, f) in enumerate(zip(parts, floors)) if p == f + 1]
    missed = [i for i, (p, f) in enumerate(zip(parts, floors)) if p == f]
    for i in got_extra:
        for j in missed:
            assert (rems[i], -i) > (rems[j], -j)


def test_allocation_examples():
    assert allocate_proportionally(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate_proportionally(10, [3, 7]) == [3, 7]
    assert allocate_proportionally(5, [0, 0]) == [3, 2]
    assert allocate_proportionally(1, [1, 2]) == [0, 1]
    assert allocate_proportionally(0, []) == []
    with pytest.raises(ValueError):
        allocate_proportionally(1, [])
    with pytest.raises(ValueError):
        allocate_proportionally(10, [1, -1])
    with pytest.raises(TypeError):
        allocate_proportionally(10.0, [1, 1])


@given(base=fen, rate=st.integers(min_value=0, max_value=BP_WHOLE))
def test_bp_floor_is_the_exact_floor(base, rate):
    got = apply_bp_floor(base, rate)
    exact = Fraction(base * rate, BP_WHOLE)
    assert got <= exact < got + 1  # floors: the sub-fen remainder stays with the merchant
    assert 0 <= got <= base


def test_bp_floor_examples_from_the_rules():
    assert apply_bp_floor(9990, 1000) == 999
    assert apply_bp_floor(9999, 1000) == 999  # 999.9 floors
    assert apply_bp_floor(1, 9999) == 0
    assert apply_bp_floor(12345, BP_WHOLE) == 12345


@pytest.mark.parametrize("bad", [1.5, 1.0, True, "100", None])
def test_money_must_be_integer_fen(bad):
    with pytest.raises(TypeError):
        check_fen(bad)
    with pytest.raises(TypeError):
        apply_bp_floor(bad, 100)


def test_ranges():
    with pytest.raises(ValueError):
        check_fen(-1)
    assert check_fen(-1, allow_negative=True) == -1
    for bad in (-1, BP_WHOLE + 1):
        with pytest.raises(ValueError):
            check_bp(bad)
    with pytest.raises(TypeError):
        check_bp(0.5)
    assert check_bp(0) == 0 and check_bp(BP_WHOLE) == BP_WHOLE


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_format_yuan_round_trips(amount):
    text = format_yuan(amount)
    whole, _, cents = text.lstrip("-").partition(".")
    assert len(cents) == 2
    assert (-1 if text.startswith("-") else 1) * (int(whole) * 100 + int(cents)) == amount


def test_format_yuan_examples():
    assert format_yuan(12345) == "123.45"
    assert format_yuan(5) == "0.05"
    assert format_yuan(-5) == "-0.05"
    assert format_yuan(0) == "0.00"
