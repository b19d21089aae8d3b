"""Analytics' pure rules: an order's contribution, restating it, the ratios and the firsts."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from linli.analytics import rules
from linli.analytics.rules import OrderFact

D0 = date(2026, 11, 1)


def fact(order_id=1, member_id=7, *, paid=6800, paid_day=D0, received_day=None, refunds=(), sharer=0, attributed=False) -> OrderFact:
    return OrderFact(1, order_id, member_id, 3, 9, sharer, 0, attributed, paid_day, paid, received_day, tuple(refunds))


def test_an_order_paid_received_and_refunded_late_books_the_refund_on_both_days():
    f = fact(paid_day=D0, received_day=D0 + timedelta(days=1), refunds=[(D0 + timedelta(days=5), 1000, False)], sharer=4, attributed=True)
    rows = rules.day_rows(f)
    paid_key, received_key, refund_key = ((1, D0 + timedelta(days=n), 3, 9, 4, 0) for n in (0, 1, 5))
    # Finance: the sale on the day it was paid, the refund on the day it was paid back.
    assert rows[paid_key] == {"orders": 1, "gmv": 6800, "refunded_of_day": 1000, "buyer_refunded_of_day": 1000, "refund_orders": 1}
    assert rows[refund_key] == {"refunds": 1000}
    # The order's own days are restated: its received day counts what is left of it.
    assert rows[received_key] == {"received_orders": 1, "received_net": 5800, "received_attributed_net": 5800}
    assert rules.member_rows(f) == {(1, 7, D0): {"orders": 1, "paid": 6800, "refunded": 1000}, (1, 7, D0 + timedelta(days=1)): {"received_orders": 1}}


refund = st.tuples(st.integers(0, 30).map(lambda n: D0 + timedelta(days=n)), st.integers(1, 3000), st.booleans())
facts = st.builds(lambda paid, rec, refs, attributed: fact(paid=paid, received_day=None if rec is None else D0 + timedelta(days=rec), refunds=refs, sharer=4 if attributed else 0, attributed=attributed),
                  st.integers(0, 20000), st.none() | st.integers(0, 30), st.lists(refund, max_size=3), st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.lists(facts, min_size=1, max_size=6))
def test_restating_an_order_through_its_states_leaves_exactly_its_last_contribution(states):
    """Each event restates the order: take back the old facts' rows, put in the new. Whatever
    the states it went through, the rollups hold exactly what its last facts contribute."""
    held: dict = {}
    before = None
    for f in states:
        delta = rules.difference(rules.day_rows(before) if before else {}, rules.day_rows(f))
        rules.add_rows(held, delta)
        before = f
    held = {k: {n: v for n, v in sums.items() if v} for k, sums in held.items()}
    assert {k: v for k, v in held.items() if v} == {k: v for k, v in rules.day_rows(states[-1]).items() if v}
    # The same facts twice: nothing to change.
    assert rules.difference(rules.day_rows(states[-1]), rules.day_rows(states[-1])) == {}


def test_a_campaigns_own_refund_is_money_back_but_not_a_buyers_refund():
    """A threshold rebate (the system's refund) lowers GMV and the order's net like any refund,
    but not the refund rate: no buyer asked for their money back."""
    rebate = fact(paid_day=D0, refunds=[(D0 + timedelta(days=2), 500, True)])
    rows = rules.day_rows(rebate)
    assert rows[(1, D0, 3, 9, 0, 0)] == {"orders": 1, "gmv": 6800, "refunded_of_day": 500}
    assert rows[(1, D0 + timedelta(days=2), 3, 9, 0, 0)] == {"refunds": 500}
    assert (rebate.refunded, rebate.buyer_refunded) == (500, 0)


def test_ratios_are_basis_points_rounded_half_up_and_zero_over_nothing():
    assert rules.bp(1, 3) == 3333
    assert rules.bp(2, 3) == 6667
    assert rules.bp(1, 8) == 1250
    assert rules.bp(5, 0) == 0
    k = rules.k_factor(sharers=4, invites=10, converted=3)
    assert (k.value_bp, k.invites_per_sharer_bp, k.conversion_bp) == (7500, 25000, 3000)  # 2.5 × 30% = 0.75
    assert (k.value, k.invites_per_sharer) == ("0.75", "2.50")
    assert [rules.bp_text(v) for v in (0, 49, 50, 3333, 6667, 123456)] == ["0.00", "0.00", "0.01", "0.33", "0.67", "12.35"]


def test_firsts_take_the_earliest_paid_and_received_orders():
    a = fact(1, paid_day=D0 + timedelta(days=3), received_day=D0 + timedelta(days=4), attributed=False)
    b = fact(2, paid_day=D0 + timedelta(days=1), received_day=D0 + timedelta(days=6), sharer=4, attributed=True)
    f = rules.Firsts([a, b])
    assert f.first_day == D0 + timedelta(days=1)  # the cohort: the first paid order
    assert f.first_received_day == D0 + timedelta(days=4) and f.first_received_attributed is False  # a, received first, came by itself
    assert rules.joined_day(D0 + timedelta(days=2), f.first_day) == D0 + timedelta(days=1)
    assert rules.Firsts().first_day is None and rules.Firsts().first_received_attributed is False


def test_ranges_are_checked_and_months_counted_from_the_first():
    assert rules.preset_range("7d", D0) == (D0 - timedelta(days=6), D0)
    assert rules.preset_range("today", D0) == (D0, D0)
    assert rules.add_months(date(2026, 11, 17), 3) == date(2027, 2, 1)
    for start, end in ((D0, D0 - timedelta(days=1)), (D0, D0 + timedelta(days=366))):
        try:
            rules.check_range(start, end)
        except rules.RangeError:
            continue
        raise AssertionError(f"{start}..{end} was accepted")
