"""The risk rule set (pure): RULES.md's defaults, the bounds of every knob, the order of the
outcome thresholds, and the mapping of a case's score to an outcome."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli.errors import Invalid
from linli.risk import rule_set
from linli.risk.rule_set import APPROVE, BLOCK, HOLD, OUTCOMES, REVIEW, SPEC, defaults, outcome, validate


def test_the_defaults_are_the_numbers_of_rules_md():
    d = defaults()
    assert d.version == 0
    assert all(d.on(rule) for rule in rule_set.RULES)  # every rule is on
    # cluster: ≥ 3 members on one device or address within 30 days → hold
    assert (d["cluster_min_members"], d["cluster_days"]) == (3, 30) and outcome(d.score("cluster"), d) == HOLD
    # velocity: more than 5 orders an hour or 20 a day from new members → review
    assert (d["velocity_per_hour"], d["velocity_per_day"]) == (5, 20) and outcome(d.score("velocity"), d) == REVIEW
    # refund rate over 30% of attributed orders in 30 days → hold
    assert (d["refund_rate_max_bp"], d["refund_rate_days"]) == (3000, 30) and outcome(d.score("refund_rate"), d) == HOLD
    # new accounts buying only through one sharer → review
    assert outcome(d.score("single_sharer"), d) == REVIEW
    # 跨区引流: more than 3 km outside the leader's community
    assert d["cross_area_distance_m"] == 3000
    # a case is decided within an SLA of 7 days
    assert d["sla_days"] == 7
    assert d["review_at"] <= d["hold_at"] < d["block_at"]


def test_changes_apply_on_top_of_a_base_and_keep_the_rest():
    v1 = validate({"velocity_per_hour": 8}, version=1)
    v2 = validate({"cluster_enabled": False}, base=v1, version=2)
    assert (v2.version, v2["velocity_per_hour"], v2.on("cluster"), v2["velocity_per_day"]) == (2, 8, False, 20)
    assert set(v2.values) == set(SPEC.names)


@pytest.mark.parametrize("knob", [k for k in SPEC if k.lo is not None], ids=lambda k: k.name)
def test_every_number_is_refused_outside_its_bounds(knob):
    for bad in (knob.lo - 1, knob.hi + 1, str(knob.lo), True, 1.5, None):
        changes = {knob.name: bad}
        if knob.name in ("review_at", "hold_at", "block_at"):  # keep the order so the bound is what is refused
            changes = {"review_at": 1, "hold_at": 1, "block_at": 1000, **changes}
        with pytest.raises(Invalid) as e:
            validate(changes)
        assert e.value.code == "risk.rules_invalid" and e.value.extra["field"] == knob.name
        if isinstance(bad, int) and not isinstance(bad, bool):
            assert (e.value.extra["lo"], e.value.extra["hi"]) == (knob.lo, knob.hi)


@pytest.mark.parametrize("name", [n for n in SPEC.names if n.endswith("_enabled")])
def test_a_switch_is_true_or_false(name):
    for bad in (1, 0, "true", None):
        with pytest.raises(Invalid) as e:
            validate({name: bad})
        assert e.value.code == "risk.rules_invalid" and e.value.extra["field"] == name
    assert validate({name: False}).values[name] is False


def test_an_unknown_setting_is_refused_by_name():
    with pytest.raises(Invalid) as e:
        validate({"velocity_per_hour": 6, "entry_fee": 100})
    assert e.value.code == "risk.rules_invalid" and e.value.extra["field"] == "entry_fee"


@pytest.mark.parametrize(("review", "hold", "block", "ok"), [
    (40, 70, 100, True),
    (70, 70, 100, True),  # review ≤ hold
    (71, 70, 100, False),
    (40, 100, 100, False),  # hold < block
    (40, 70, 69, False),
    (1, 1, 2, True),
])
def test_the_outcome_thresholds_keep_their_order(review, hold, block, ok):
    changes = {"review_at": review, "hold_at": hold, "block_at": block}
    if ok:
        assert validate(changes)["hold_at"] == hold
        return
    with pytest.raises(Invalid) as e:
        validate(changes)
    assert e.value.code == "risk.thresholds_order" and e.value.extra["field"] == "hold_at"


def test_the_order_is_checked_against_the_base():
    base = validate({"review_at": 10, "hold_at": 20, "block_at": 30})
    with pytest.raises(Invalid) as e:
        validate({"hold_at": 30}, base=base)
    assert e.value.code == "risk.thresholds_order"


def test_scores_map_to_outcomes_at_the_thresholds():
    d = defaults()  # review 30, hold 70, block 100
    assert [outcome(s, d) for s in (0, 29, 30, 69, 70, 99, 100, 5000)] == [APPROVE, APPROVE, REVIEW, REVIEW, HOLD, HOLD, BLOCK, BLOCK]
    same = validate({"review_at": 50, "hold_at": 50, "block_at": 60})
    assert [outcome(s, same) for s in (49, 50, 59, 60)] == [APPROVE, HOLD, HOLD, BLOCK]  # review = hold: straight to hold
    assert rule_set.holds(HOLD) and rule_set.holds(BLOCK) and not rule_set.holds(REVIEW) and not rule_set.holds(APPROVE)


@st.composite
def thresholds(draw):
    review = draw(st.integers(1, 998))
    hold = draw(st.integers(review, 999))
    block = draw(st.integers(hold + 1, 1000))
    return validate({"review_at": review, "hold_at": hold, "block_at": block})


@given(thresholds(), st.integers(0, 5000), st.integers(0, 5000))
def test_the_outcome_never_goes_down_as_the_score_goes_up(rs, a, b):
    low, high = sorted((a, b))
    assert OUTCOMES.index(outcome(low, rs)) <= OUTCOMES.index(outcome(high, rs))
    assert outcome(high, rs) == (BLOCK if high >= rs["block_at"] else HOLD if high >= rs["hold_at"] else REVIEW if high >= rs["review_at"] else APPROVE)


@given(st.dictionaries(st.sampled_from(rule_set.RULES), st.integers(0, 1000)))
def test_a_case_score_adds_up_the_rules_that_fired(scores):
    assert rule_set.case_score(scores) == sum(scores.values())
