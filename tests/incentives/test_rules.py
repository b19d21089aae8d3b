"""The pure rules of referral programmes: the only trigger, the window, the Shanghai month
of the cap, milestones."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.errors import Invalid
from linli.incentives import rules

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)
POINTS = rules.Reward(rules.Kind.points, 300)


def _terms(**over) -> rules.Terms:
    base = dict(name="邻里鸡蛋计划", trigger=rules.TRIGGER, starts_at=NOW, ends_at=NOW + timedelta(days=30), min_paid=3000, window_days=30, monthly_cap=20,
                inviter_reward=POINTS, invitee_reward=None, milestones=())
    return rules.Terms(**{**base, **over})


@pytest.mark.parametrize("trigger", rules.FORBIDDEN_TRIGGERS)
def test_a_programme_rewarding_sign_ups_shares_clicks_or_group_joins_is_refused(trigger):
    with pytest.raises(Invalid) as e:
        rules.check_terms(_terms(trigger=trigger), NOW)
    assert e.value.code == "programme.rewards_signup"


def test_good_terms_pass_and_milestones_must_increase():
    rules.check_terms(_terms(milestones=(rules.Milestone(3, POINTS), rules.Milestone(5, POINTS))), NOW)
    with pytest.raises(Invalid) as e:
        rules.check_terms(_terms(milestones=(rules.Milestone(5, POINTS), rules.Milestone(3, POINTS))), NOW)
    assert e.value.code == "programme.milestones_invalid"


@given(st.integers(min_value=-5 * 86400, max_value=40 * 86400), st.integers(min_value=1, max_value=365), st.integers(min_value=0, max_value=10_000))
def test_qualifies_inside_the_window_at_or_above_the_minimum(offset_s, window, paid):
    received = NOW + timedelta(seconds=offset_s)
    inside = 0 <= offset_s <= window * 86400
    assert rules.qualifies(NOW, received, window, paid, 3000) == (inside and paid >= 3000)


def test_the_cap_month_is_shanghai_s():
    assert rules.month_of(datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)) == "2026-12"  # 00:00 on 1 December in Shanghai
    assert rules.month_of(datetime(2026, 11, 30, 15, 59, tzinfo=timezone.utc)) == "2026-11"


@given(st.lists(st.integers(min_value=1, max_value=50), unique=True, max_size=5).map(sorted), st.integers(min_value=0, max_value=60))
def test_reached_and_next_milestone_split_the_milestones(counts, granted):
    ms = [rules.Milestone(c, POINTS) for c in counts]
    reached, nxt = rules.reached(granted, ms), rules.next_milestone(granted, ms)
    assert [m.count for m in reached] == [c for c in counts if c <= granted]
    assert (nxt.count if nxt else None) == next((c for c in counts if c > granted), None)


def test_a_programme_ended_early_stops_running():
    assert rules.running(NOW, NOW + timedelta(days=30), None, NOW + timedelta(days=1))
    assert not rules.running(NOW, NOW + timedelta(days=30), NOW + timedelta(hours=1), NOW + timedelta(days=1))
    assert not rules.running(NOW, NOW + timedelta(days=30), None, NOW - timedelta(seconds=1))


@pytest.mark.parametrize("ends_at", [datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-12))), datetime(2101, 1, 1, tzinfo=timezone.utc),
                                     datetime(2100, 12, 31, 20, tzinfo=timezone.utc)])  # the last: already 2101 in Shanghai
def test_a_date_past_2100_is_refused_with_its_code_before_any_arithmetic(ends_at):
    with pytest.raises(Invalid) as e:
        rules.check_terms(_terms(ends_at=ends_at), NOW)
    assert (e.value.code, e.value.extra.get("field")) == ("programme.dates_out_of_range", "ends_at")
    rules.check_terms(_terms(ends_at=datetime(2100, 12, 31, tzinfo=timezone.utc)), NOW)
