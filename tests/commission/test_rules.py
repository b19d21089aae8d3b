import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.commission.rules import ChainLink, RuleSet, after_refund, chain_beneficiaries, line_shares, rates_for, validate
from linli.errors import Invalid
from linli.money import apply_bp_floor

A, B, C, D, L = 1, 2, 3, 4, 9


def test_worked_example_of_the_rules():
    # A binds B, B binds C, C binds D; all sharers; L leads D's community. D pays 8,470.
    rs = validate(RuleSet(), 2)
    chain = [ChainLink(C, True), ChainLink(B, True), ChainLink(A, True)]
    shares = line_shares(8470, rs.rates_bp, chain_beneficiaries(chain, rs.levels), L, rs.leader_rate_bp)
    assert {(s.member_id, s.level): s.amount for s in shares} == {(C, 1): 1694, (B, 2): 423, (L, 0): 1270}
    # D gets a 2,990 refund on the line: base 5,480.
    assert {s.member_id: after_refund(s, 8470, 2990) for s in shares} == {C: 1096, B: 274, L: 822}


def test_issue_chain_13600():
    shares = line_shares(13600, (2000, 500), [(C, 1), (B, 2)], None, 0)
    assert [s.amount for s in shares] == [2720, 680]
    assert [after_refund(s, 13600, 6800) for s in shares] == [1360, 340]
    assert [after_refund(s, 13600, 13599) for s in shares] == [0, 0]


def test_inactive_sharer_keeps_its_level_no_compression():
    chain = [ChainLink(C, False), ChainLink(B, True), ChainLink(A, True)]
    assert chain_beneficiaries(chain, 2) == [(B, 2)]


@pytest.mark.parametrize(
    ("rs", "max_levels", "code"),
    [
        (RuleSet(levels=3, rates_bp=(2000, 500, 100)), 2, "commission.levels_over_max"),
        (RuleSet(levels=4, rates_bp=(1, 1, 1, 1)), 3, "commission.levels_over_max"),
        (RuleSet(levels=2, rates_bp=(4000, 500)), 2, "commission.rates_over_cap"),
        (RuleSet(levels=2, rates_bp=(2000,)), 2, "commission.rates_length"),
        (RuleSet(levels=2, rates_bp=(2000, -5)), 2, "commission.rate_invalid"),
        (RuleSet(category_rates={"水果": (3000, 1000)}), 2, "commission.rates_over_cap"),
    ],
)
def test_rule_sets_outside_bounds_are_refused(rs, max_levels, code):
    with pytest.raises(Invalid) as e:
        validate(rs, max_levels)
    assert e.value.code == code


def test_three_levels_when_the_platform_allows():
    assert validate(RuleSet(levels=3, rates_bp=(2000, 500, 100)), 3).levels == 3


def test_most_specific_override_wins():
    rs = RuleSet(category_rates={"水果": (1000, 100)}, product_rates={7: (1500, 200)}, campaign_rates={3: (2500, 0)})
    assert rates_for(rs, category="水果", product_id=7, campaign_id=3) == (2500, 0)
    assert rates_for(rs, category="水果", product_id=7, campaign_id=None) == (1500, 200)
    assert rates_for(rs, category="水果", product_id=8, campaign_id=None) == (1000, 100)
    assert rates_for(rs, category="蔬菜", product_id=8, campaign_id=9) == (2000, 500)


rates = st.lists(st.integers(0, 3000), min_size=1, max_size=3)


@given(base=st.integers(0, 10**9), r=rates, leader=st.integers(0, 2000), refunded=st.integers(0, 10**9))
def test_payout_never_exceeds_the_capped_share(base, r, leader, refunded):
    cap = min(sum(r) + leader, 10000)
    shares = line_shares(base, tuple(r), [(100 + i, i + 1) for i in range(len(r))], 99, leader)
    if sum(r) + leader <= 10000:
        assert sum(s.amount for s in shares) <= apply_bp_floor(base, cap)
    refunded = min(refunded, base)
    for s in shares:
        after = after_refund(s, base, refunded)
        assert 0 <= after <= s.amount
        assert after == (base - refunded) * s.rate_bp // 10000
    if refunded == base:
        assert all(after_refund(s, base, refunded) == 0 for s in shares)
