"""The sharer board's pure ranking: GMV first, ties share a rank (1, 2, 2, 4), the first to
reach a score listed first, nothing brought → not ranked."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from linli.campaigns.live.rules import Standing, rank

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def test_ties_share_a_rank_and_the_first_to_reach_the_score_is_listed_first():
    rows = [Standing(1, 2, 10_000, T0 + timedelta(minutes=3)), Standing(2, 1, 10_000, T0 + timedelta(minutes=1)), Standing(3, 1, 15_000, T0), Standing(4, 1, 5_000, T0), Standing(5, 0, 0, None)]
    assert [(r, x.member_id) for r, x in rank(rows)] == [(1, 3), (2, 2), (2, 1), (4, 4)]


def test_a_refunded_to_zero_sharer_is_not_ranked_and_equal_times_fall_back_to_the_member():
    rows = [Standing(9, 1, 500, T0), Standing(7, 1, 500, T0), Standing(8, 1, 0, T0)]
    assert [(r, x.member_id) for r, x in rank(rows)] == [(1, 7), (1, 9)]


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10)), max_size=30))
def test_a_rank_is_one_more_than_the_sharers_strictly_ahead(pairs):
    rows = [Standing(i, 1, gmv * 100, T0 + timedelta(seconds=t)) for i, (gmv, t) in enumerate(pairs)]
    out = rank(rows)
    assert [x.member_id for _, x in out] == sorted((x.member_id for x in rows if x.gmv > 0), key=lambda m: (-rows[m].gmv, rows[m].reached_at, m))
    for r, x in out:
        assert r == 1 + sum(1 for y in rows if y.gmv > x.gmv)
