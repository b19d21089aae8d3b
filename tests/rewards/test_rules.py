"""The pure rules of points, coupons, stored value and levels (RULES.md), with the numbers a
merchant and a member would check by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.errors import Invalid
from linli.rewards import rules as r

UTC = timezone.utc


def test_points_are_earned_per_whole_yuan_paid():
    assert r.points_for_paid(12_345) == 123
    assert r.points_for_paid(99) == 0
    assert r.points_for_paid(12_345, points_per_yuan=2) == 246
    assert r.points_for_paid(0) == 0


@given(st.integers(1, 10_000), st.integers(1, 1_000_000), st.lists(st.integers(1, 1_000_000), min_size=1, max_size=6))
def test_refunding_a_line_in_parts_reverses_exactly_what_it_earned(earned, paid, parts):
    refunded, reversed_ = 0, 0
    for part in parts:
        part = min(part, paid - refunded)
        if part <= 0:
            break
        reversed_ += r.points_to_reverse(earned, paid, refunded, part)
        refunded += part
    assert 0 <= reversed_ <= earned
    if refunded == paid:
        assert reversed_ == earned


def test_points_expire_at_the_end_of_the_next_year_in_shanghai():
    # 31 Dec 2026 23:30 in Shanghai is still 2026 there: expires at the end of 2027.
    earned = datetime(2026, 12, 31, 15, 30, tzinfo=UTC)
    assert r.points_expire_at(earned) == datetime(2027, 12, 31, 16, 0, tzinfo=UTC)
    # 31 Dec 2026 16:30 UTC is 1 Jan 2027 in Shanghai: expires at the end of 2028.
    assert r.points_expire_at(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)) == datetime(2028, 12, 31, 16, 0, tzinfo=UTC)
    assert r.points_expire_at(earned, years_after=0) is None


def test_points_pay_at_most_half_and_never_more_than_the_balance():
    assert r.max_points_for(10_001, 1_000_000) == 5000
    assert r.max_points_for(10_000, 300) == 300
    assert r.max_points_for(10_000, -50) == 0  # a reversal left the balance negative: no redemption
    r.check_points_redeem(5000, 10_000, 6000)
    with pytest.raises(Invalid) as e:
        r.check_points_redeem(5001, 10_000, 6000)
    assert e.value.code == "points.over_cap"
    with pytest.raises(Invalid) as e:
        r.check_points_redeem(300, 10_000, 299)
    assert e.value.code == "points.insufficient"


def test_spends_take_the_lots_that_expire_first():
    soon, later = datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    lots = [r.Lot(1, 100, later), r.Lot(2, 50, None), r.Lot(3, 30, soon), r.Lot(4, 0, soon)]
    assert r.take_from_lots(lots, 140) == [(3, 30), (1, 100), (2, 10)]
    with pytest.raises(Invalid):
        r.take_from_lots(lots, 181)


def _line(sku, product, amount, category="fruit", unit=None):
    return r.ScopedLine(sku, product, category, amount, unit or amount)


def test_coupon_kinds_on_the_lines_in_scope():
    lines = [_line(1, 10, 3000), _line(2, 20, 2000, category="veg")]
    assert r.discount(r.CouponTerms(r.Kind.fixed, amount=500), lines) == (500, [3000, 2000])
    assert r.discount(r.CouponTerms(r.Kind.threshold, amount=1000, threshold=5000), lines)[0] == 1000
    assert r.discount(r.CouponTerms(r.Kind.threshold, amount=1000, threshold=5001), lines)[0] == 0
    fruit_only = r.CouponTerms(r.Kind.threshold, amount=1000, threshold=5000, categories=frozenset({"fruit"}))
    assert r.discount(fruit_only, lines) == (0, [3000, 0])  # 满50减10 on fruit: 30 元 of fruit is not enough
    assert r.discount(r.CouponTerms(r.Kind.percent, percent_bp=1500, cap=600), lines)[0] == 600  # 15% of 50 元 = 7.5 元, capped at 6 元
    assert r.discount(r.CouponTerms(r.Kind.percent, percent_bp=1500, products=frozenset({20})), lines) == (300, [0, 2000])
    gift = r.CouponTerms(r.Kind.gift, gift_sku_id=2)
    assert r.discount(gift, [_line(1, 10, 3000), _line(2, 20, 2000, unit=1000)]) == (1000, [0, 2000])
    assert r.discount(gift, [_line(1, 10, 3000)])[0] == 0
    assert r.discount(r.CouponTerms(r.Kind.fixed, amount=9000), lines)[0] == 5000  # never more than the lines cost
    assert r.capped_for_payable(5000, 5000) == 4999  # and 1 fen is always left to pay


@pytest.mark.parametrize("terms, code", [
    (r.CouponTerms(r.Kind.fixed, amount=0), "coupon.amount_invalid"),
    (r.CouponTerms(r.Kind.threshold, amount=1000, threshold=1000), "coupon.threshold_invalid"),
    (r.CouponTerms(r.Kind.percent, percent_bp=10_001), "coupon.percent_invalid"),
    (r.CouponTerms(r.Kind.percent, percent_bp=1000, cap=-1), "coupon.cap_invalid"),
    (r.CouponTerms(r.Kind.gift), "coupon.gift_sku_required"),
])
def test_bad_coupon_terms_are_refused_with_a_code(terms, code):
    with pytest.raises(Invalid) as e:
        r.check_terms(terms)
    assert e.value.code == code


def test_validity_by_dates_or_days_after_claiming():
    claimed = datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert r.valid_window(None, None, 7, claimed) == (claimed, claimed + timedelta(days=7))
    end = datetime(2026, 12, 5, tzinfo=UTC)
    assert r.valid_window(None, end, 7, claimed) == (claimed, end)
    start = datetime(2026, 12, 2, tzinfo=UTC)
    assert r.valid_window(start, end, None, claimed) == (start, end)


def test_stored_value_spends_principal_first_and_keeps_the_cap():
    assert r.split_spend(1200, 1000, 500) == (1000, 200)
    with pytest.raises(Invalid) as e:
        r.split_spend(1600, 1000, 500)
    assert e.value.code == "stored_value.insufficient"
    plans = [r.Plan(10_000, 1000), r.Plan(50_000, 8000)]
    r.check_plans(plans)
    assert r.bonus_for(plans, 10_000) == 1000 and r.bonus_for(plans, 12_345) == 0
    r.check_topup(10_000, 1000, 489_000, 0)
    with pytest.raises(Invalid) as e:
        r.check_topup(10_000, 1000, 489_001, 0)
    assert e.value.code == "stored_value.over_cap"
    assert r.bonus_forfeited(5000, 10_000, 1000) == 500  # half the principal back: half the bonus goes
    assert r.bonus_forfeited(3333, 10_000, 1000) == 334  # rounded against the bonus kept
    assert r.bonus_forfeited(10_000, 10_000, 1000) == 1000


LEVELS = [r.Level("铜牌", 0), r.Level("银牌", 100_000, discount_bp=200), r.Level("金牌", 500_000, discount_bp=500, free_delivery=True)]


def test_levels_need_strictly_increasing_thresholds():
    r.check_levels(LEVELS)
    with pytest.raises(Invalid) as e:
        r.check_levels([r.Level("a", 100), r.Level("b", 100)])
    assert e.value.code == "levels.thresholds_not_increasing"
    assert r.level_for(99_999, LEVELS) == 0 and r.level_for(500_000, LEVELS) == 2
    assert r.level_for(5, [r.Level("a", 10)]) is None


def test_upgrade_is_immediate_and_downgrade_waits_for_the_review_with_notice():
    review = datetime(2027, 3, 1, tzinfo=UTC)
    assert r.decide_level(0, 600_000, LEVELS, datetime(2026, 12, 1, tzinfo=UTC), review) == r.LevelChange(2)
    assert r.decide_level(2, 0, LEVELS, datetime(2026, 12, 1, tzinfo=UTC), review) == r.LevelChange(2, notice=False)
    assert r.decide_level(2, 0, LEVELS, review - timedelta(days=29), review) == r.LevelChange(2, notice=True)
    assert r.decide_level(2, 0, LEVELS, review, review) == r.LevelChange(0)


def test_later_points_pay_off_debts_soonest_expiring_first_oldest_debt_first():
    soon, late = datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)
    lots = [r.Lot(1, -50, soon), r.Lot(2, 30, late), r.Lot(3, -40, soon), r.Lot(4, 45, soon), r.Lot(5, 10, None)]
    assert r.net_debts(lots) == [(4, 1, 45), (2, 1, 5), (2, 3, 25), (5, 3, 10)]
    assert r.net_debts([r.Lot(1, -5, soon)]) == [] and r.net_debts([r.Lot(1, 5, soon)]) == []


@given(st.lists(st.integers(-500, 500), max_size=8))
def test_paying_debts_moves_no_points_and_leaves_no_debt_beside_points(remainings):
    lots = [r.Lot(i, n, None) for i, n in enumerate(remainings)]
    after = dict(enumerate(remainings))
    for src, dst, n in r.net_debts(lots):
        assert n > 0 and remainings[src] > 0 > remainings[dst]
        after[src] -= n
        after[dst] += n
    assert sum(after.values()) == sum(remainings)
    assert not (any(v < 0 for v in after.values()) and any(v > 0 for v in after.values()))


def test_reminders_group_a_members_lots_by_the_instant_they_expire():
    a, b = datetime(2028, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    assert r.expiring_groups([(1, 10, a), (2, 5, b), (3, 7, a)]) == [(b, [2], 5), (a, [1, 3], 17)]


def test_the_reward_settings_spec():
    assert r.SETTINGS.defaults() == {"points_per_yuan": 1, "points_expiry_years": 1}
    with pytest.raises(Invalid) as e:
        r.SETTINGS.check({"points_per_yuan": 11})
    assert e.value.code == "rewards.settings_invalid" and e.value.extra == {"field": "points_per_yuan", "lo": 0, "hi": 10}
