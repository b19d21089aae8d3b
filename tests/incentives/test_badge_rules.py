"""The badge rules without a database: 社区推荐官 at N granted referrals within 90 days (not at
N-1, not when the N-th comes 90 days or more after the first of them; kept once reached), the
revocable badges held exactly while their metric reaches the threshold, the progress shown,
and the settings a merchant may choose."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.errors import Invalid
from linli.incentives import badge_rules as br

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
DEFAULTS = br.SETTINGS.defaults()


def _badge(code: str, cfg=None) -> br.Badge:
    return next(b for b in br.catalogue(cfg or DEFAULTS) if b.code == code)


def _days(*ds: float) -> tuple[datetime, ...]:
    return tuple(T0 + timedelta(days=d) for d in ds)


REC = _badge("recommender")


def test_the_recommender_needs_five_friends_within_ninety_days():
    assert br.reached(REC, br.Facts(referrals=_days(0, 1, 2, 3, 4)))
    assert not br.reached(REC, br.Facts(referrals=_days(0, 1, 2, 3)))
    assert not br.reached(REC, br.Facts(referrals=_days(0, 1, 2, 3, 90)))  # the 5th is 90 days after the 1st: outside
    assert br.reached(REC, br.Facts(referrals=_days(0, 1, 2, 3, 89.9)))
    assert br.reached(REC, br.Facts(referrals=_days(0, 50, 100, 101, 102, 103)))  # days 50..103 hold five
    assert not br.reached(REC, br.Facts(referrals=_days(0, 40, 80, 120, 160, 200, 240)))  # never five in any 90 days


def test_the_recommender_is_kept_when_the_rolling_count_falls_and_revocable_badges_are_not():
    old = br.Facts(referrals=_days(0, 1, 2, 3, 4))
    assert br.value(REC, old, T0 + timedelta(days=200)) == 0  # nothing in the last 90 days now
    assert br.held(REC, old, held_now=True)
    stricter = _badge("recommender", {**DEFAULTS, "recommender_referrals": 6})
    assert br.held(stricter, old, held_now=True) and not br.held(stricter, old, held_now=False)
    bronze = _badge("gmv_bronze")
    assert br.held(bronze, br.Facts(sales=3, gmv=100_000), held_now=False)
    assert not br.held(bronze, br.Facts(sales=3, gmv=99_999), held_now=True)  # refunded below: goes
    first = _badge("first_sale")
    assert br.held(first, br.Facts(sales=1, gmv=1), held_now=False) and not br.held(first, br.Facts(sales=0, gmv=0), held_now=True)


def test_progress_counts_the_last_ninety_days():
    f = br.Facts(referrals=_days(0, 10, 80, 95))
    assert br.value(REC, f, T0 + timedelta(days=96)) == 3  # day 0 fell out; 10, 80, 95 count
    assert br.value(_badge("gmv_silver"), br.Facts(sales=2, gmv=12_345), None) == 12_345


def test_a_rolling_revocable_badge_cannot_be_declared():
    with pytest.raises(ValueError):
        br.Badge("x", br.Metric.referrals, 3, period_days=30, revocable=True)


@given(st.lists(st.floats(min_value=0, max_value=400), min_size=0, max_size=12), st.integers(min_value=1, max_value=6))
def test_the_window_rule_matches_counting_at_each_grant(days, n):
    """Reached iff at some grant the grants in the 90 days up to it number at least n: what
    the event of that grant sees (the last 90 days) is what the backfill decides."""
    times = tuple(sorted(T0 + timedelta(days=d) for d in days))
    at_some_grant = any(sum(1 for u in times if t - timedelta(days=90) < u <= t) >= n for t in times)
    assert br.window_reached(times, n, 90) == at_some_grant


@pytest.mark.parametrize(("values", "code", "field"), [
    ({"recommender_referrals": 0}, "badge.settings_invalid", "recommender_referrals"),
    ({"recommender_referrals": 101}, "badge.settings_invalid", "recommender_referrals"),
    ({"gmv_bronze": 99}, "badge.settings_invalid", "gmv_bronze"),
    ({"gmv_silver": 100_000}, "badge.tiers_not_increasing", "gmv_silver"),
    ({"gmv_gold": 400_000}, "badge.tiers_not_increasing", "gmv_gold"),
])
def test_settings_out_of_bounds_or_tiers_not_increasing_are_refused(values, code, field):
    with pytest.raises(Invalid) as exc:
        br.check_settings({**DEFAULTS, **values})
    assert (exc.value.code, exc.value.extra["field"]) == (code, field)


@pytest.mark.parametrize(("name", "link", "text", "code"), [
    ("", "https://work.weixin.qq.com/x", "", "badge.group_name_invalid"),
    ("群" * 41, "", "", "badge.group_name_invalid"),
    ("推荐官群", "javascript:alert(1)", "", "badge.group_link_invalid"),
    ("推荐官群", "https://", "", "badge.group_link_invalid"),
    ("推荐官群", "https://a b", "", "badge.group_link_invalid"),
    ("推荐官群", "", "加" * 201, "badge.group_text_invalid"),
])
def test_a_bad_group_is_refused(name, link, text, code):
    with pytest.raises(Invalid) as exc:
        br.check_group(name, link, text)
    assert exc.value.code == code


def test_a_good_group_and_no_group_pass():
    br.check_group("社区推荐官交流群", "https://work.weixin.qq.com/gm/abc", "扫码或加店长企业微信")
    br.check_group("社区推荐官交流群", "", "加店长微信 linli-shop")
    br.check_group("", "", "")


def test_the_starter_kit_shows_for_thirty_days_until_dismissed():
    assert br.kit_shown(T0, None, T0 + timedelta(days=29))
    assert not br.kit_shown(T0, None, T0 + timedelta(days=30))
    assert not br.kit_shown(T0, T0 + timedelta(hours=1), T0 + timedelta(days=2))
