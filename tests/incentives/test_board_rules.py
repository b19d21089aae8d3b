"""Leaderboard rules (pure): Shanghai weeks and months, competition ranks with the first to
reach a score listed first, nothing at zero or below, holds left out, and the Redis order
giving exactly the database's order (a property test over random boards)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.errors import Invalid
from linli.incentives import board_rules as br
from linli.incentives.board_rules import Metric, Period, Score

UTC = timezone.utc
CST = timezone(timedelta(hours=8))


def test_a_week_starts_on_monday_and_a_month_on_the_first_at_midnight_in_shanghai():
    sunday_night = datetime(2026, 11, 22, 23, 59, 59, tzinfo=CST)
    assert br.period_start(Period.week, sunday_night) == datetime(2026, 11, 16, tzinfo=CST)
    monday = datetime(2026, 11, 23, 0, 0, tzinfo=CST)  # 2026-11-22 16:00 UTC: still Sunday in UTC
    assert br.period_start(Period.week, monday) == monday
    assert br.period_start(Period.week, datetime(2026, 11, 22, 16, 0, tzinfo=UTC)) == monday
    assert br.period_start(Period.week, datetime(2026, 11, 22, 15, 59, 59, tzinfo=UTC)) == datetime(2026, 11, 16, tzinfo=CST)
    assert br.period_end(Period.week, datetime(2026, 11, 16, tzinfo=CST)) == monday
    assert br.period_start(Period.month, datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=CST)
    assert br.period_start(Period.month, datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == datetime(2026, 11, 1, tzinfo=CST)
    assert br.period_end(Period.month, datetime(2026, 12, 1, tzinfo=CST)) == datetime(2027, 1, 1, tzinfo=CST)
    assert br.previous_start(Period.week, monday) == datetime(2026, 11, 16, tzinfo=CST)
    assert br.previous_start(Period.month, datetime(2026, 1, 5, tzinfo=CST)) == datetime(2025, 12, 1, tzinfo=CST)
    assert br.period_start(Period.week, monday).tzinfo == UTC


def test_ties_share_a_rank_the_first_to_reach_is_listed_first_and_zero_is_not_listed():
    t = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    rows = [Score(5, 300, t + timedelta(hours=3)), Score(6, 300, t + timedelta(hours=1)), Score(7, 900, t), Score(8, 100, t), Score(9, 0, None), Score(10, -5, t),
            Score(4, 300, t + timedelta(hours=1))]
    ranked = br.rank(rows)
    assert [(r.rank, r.member_id) for r in ranked] == [(1, 7), (2, 4), (2, 6), (2, 5), (5, 8)]  # 4 and 6 reached 300 at the same second: the lower id first
    assert [(r.rank, r.member_id) for r in br.rank(rows, leave_out={7})] == [(1, 4), (1, 6), (1, 5), (4, 8)]
    assert [r.member_id for r in br.rank(rows, limit=2)] == [7, 4]


def test_an_honour_keeps_ten_ranks_and_everyone_sharing_the_tenth():
    t = datetime(2026, 11, 17, tzinfo=UTC)
    rows = [Score(i, 100 - i, t) for i in range(1, 10)] + [Score(20, 50, t), Score(21, 50, t + timedelta(seconds=1)), Score(22, 10, t)]
    got = br.honour_rows(rows)
    assert [r.member_id for r in got] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 21]
    assert [r.rank for r in got][-2:] == [10, 10]


def test_bad_values_are_refused_with_their_codes():
    for raw, code in (("day", "leaderboard.period_invalid"), ("", "leaderboard.period_invalid")):
        with pytest.raises(Invalid) as e:
            br.parse_period(raw)
        assert e.value.code == code
    with pytest.raises(Invalid) as e:
        br.parse_metric("likes")
    assert e.value.code == "leaderboard.metric_invalid"
    with pytest.raises(Invalid) as e:
        br.check_at(datetime(2026, 11, 22, 10, 0))
    assert e.value.code == "leaderboard.at_invalid"
    for year in (1999, 2101, 9999):
        with pytest.raises(Invalid) as e:
            br.check_at(datetime(year, 6, 1, tzinfo=UTC))
        assert e.value.code == "leaderboard.at_out_of_range"
    with pytest.raises(Invalid):  # 2100 in UTC, 2101 in Shanghai
        br.check_at(datetime(2100, 12, 31, 20, 0, tzinfo=UTC))


def test_a_fact_counts_on_its_week_and_month_of_the_merchant_and_its_community():
    at = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # Tuesday 1 December 01:00 in Shanghai
    keys = br.keys_for(3, 12, Metric.gmv, at)
    assert {(k.scope, k.scope_id, k.period, k.period_start) for k in keys} == {
        (br.Scope.merchant, 0, Period.week, datetime(2026, 11, 30, tzinfo=CST)), (br.Scope.community, 12, Period.week, datetime(2026, 11, 30, tzinfo=CST)),
        (br.Scope.merchant, 0, Period.month, datetime(2026, 12, 1, tzinfo=CST)), (br.Scope.community, 12, Period.month, datetime(2026, 12, 1, tzinfo=CST))}
    assert len(br.keys_for(3, None, Metric.referrals, at)) == 2


START = datetime(2026, 12, 1, tzinfo=CST).astimezone(UTC)
rows_strategy = st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, br.MAX_ENCODABLE), st.integers(0, 31 * 86400 - 1)), min_size=1, max_size=40,
                         unique_by=lambda r: r[0])


@given(rows_strategy)
def test_the_redis_order_is_the_database_order_and_decodes_exactly(raw):
    rows = [Score(m, score, START + timedelta(seconds=off)) for m, score, off in raw]
    for r in rows:
        assert br.decode(float(br.encode(r.score, r.reached_at, START)), START) == (r.score, r.reached_at)
    redis_order = [r.member_id for r in sorted(rows, key=lambda r: (float(br.encode(r.score, r.reached_at, START)), br.member_key(r.member_id)))]
    assert redis_order == [r.member_id for r in sorted(rows, key=br.order_key)]
    for r in rows:  # ZCOUNT -inf..above(score) counts exactly those scoring more
        assert sum(1 for o in rows if br.encode(o.score, o.reached_at, START) <= br.above(r.score)) == sum(1 for o in rows if o.score > r.score)


def test_scores_past_the_redis_bounds_are_refused_not_rounded():
    with pytest.raises(ValueError):
        br.encode(br.MAX_ENCODABLE + 1, START, START)
    with pytest.raises(ValueError):
        br.encode(1, START - timedelta(seconds=1), START)
    assert float(br.encode(br.MAX_ENCODABLE, START + timedelta(days=31) - timedelta(seconds=1), START)) == br.encode(br.MAX_ENCODABLE, START + timedelta(days=31) - timedelta(seconds=1), START)
