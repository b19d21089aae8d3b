"""Amounts typed in 元 become integer fen exactly: no floats, at most 2 decimals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.money import format_yuan, parse_yuan


@pytest.mark.parametrize(
    ("typed", "fen"),
    [
        ("12", 1200),
        ("12.5", 1250),
        ("12.50", 1250),
        ("0.01", 1),
        ("0.1", 10),
        ("0", 0),
        ("0.00", 0),
        ("007.70", 770),
        (" 68.00 ", 6800),
        ("¥68", 6800),
        ("￥ 68.5", 6850),
        ("68元", 6800),
        ("１２．５", 1250),  # full-width, as a Chinese keyboard types it
        ("0.29", 29),  # 0.29 * 100 is 28.999… as a float
        ("1.13", 113),
        ("4.35", 435),
        ("999999999999.99", 99999999999999),
    ],
)
def test_accepted_amounts(typed, fen):
    assert parse_yuan(typed) == fen


@pytest.mark.parametrize(
    "typed",
    ["12.345", "0.001", "", "  ", "-1", "+1", "-0.5", "1e3", "1E2", "1,000", "1 000", ".5", "12.", "1.2.3", "abc", "12块", "¥", "元",
     "nan", "inf", "٢", "½", "1_000", "0x10", "1234567890123", "12.5元元", None, 12.5, 1250],
)
def test_refused_amounts(typed):
    with pytest.raises(ValueError):
        parse_yuan(typed)


@given(st.integers(min_value=0, max_value=10**14 - 1))
def test_round_trip_with_format_yuan(fen):
    assert parse_yuan(format_yuan(fen)) == fen


@given(st.integers(min_value=0, max_value=10**12 - 1), st.integers(min_value=0, max_value=9))
def test_one_decimal_means_tens_of_fen(whole, tenth):
    assert parse_yuan(f"{whole}.{tenth}") == whole * 100 + tenth * 10
