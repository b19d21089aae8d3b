from datetime import datetime, timedelta, timezone

import pytest

from linli.referral.rules import ALPHABET, BindMode, Existing, Refusal, decide_binding, new_code, normalise_code

NOW = datetime(2026, 11, 22, tzinfo=timezone.utc)


def test_codes_are_eight_unambiguous_random_characters():
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 8 and set(c) <= set(ALPHABET) for c in codes)
    assert not set(ALPHABET) & set("0O1IL2Z5S8BUV")
    assert normalise_code(" 34679acd ") == "34679ACD"
    assert normalise_code("3467OACD") is None and normalise_code("short") is None


def decide(**kw):
    args = dict(invitee_id=4, inviter_id=3, mode=BindMode.first_touch, existing=None, ancestors_of_inviter=[2, 1], invitee_is_new=False, now=NOW, protection_days=30)
    args.update(kw)
    return decide_binding(**args)


def test_binding_modes():
    assert decide() is True
    assert decide(existing=Existing(3, NOW)) is False  # same inviter again: nothing to do
    with pytest.raises(Refusal) as e:
        decide(existing=Existing(7, NOW - timedelta(days=400)))
    assert e.value.code == "binding.exists"
    assert decide(mode=BindMode.protected, existing=Existing(7, NOW - timedelta(days=30))) is True
    with pytest.raises(Refusal):
        decide(mode=BindMode.protected, existing=Existing(7, NOW - timedelta(days=29)))
    assert decide(mode=BindMode.register_only, invitee_is_new=True) is True
    with pytest.raises(Refusal) as e:
        decide(mode=BindMode.register_only, invitee_is_new=False)
    assert e.value.code == "binding.not_new"


def test_self_and_cycles_refused():
    with pytest.raises(Refusal) as e:
        decide(inviter_id=4)
    assert e.value.code == "binding.self"
    with pytest.raises(Refusal) as e:
        decide(ancestors_of_inviter=[2, 4, 1])
    assert e.value.code == "binding.cycle"
