"""The edge's device ids and IP prefixes (linli.edge): what is accepted, what is ignored."""

from __future__ import annotations

import pytest

from linli import edge


@pytest.mark.parametrize("raw", ["abcdefgh", "A" * 64, "dev-1234_5678.~!", "sbx:9f3c1a2b"])
def test_printable_ascii_of_8_to_64_characters_is_a_device_id(raw):
    assert edge.valid_device_id(raw) == raw


@pytest.mark.parametrize("raw", [None, "", "short", "A" * 65, "has space in it", "tab\there12", "ümlaut-device", "nul\x00device", "新设备编号一二三四"])
def test_anything_else_is_ignored(raw):
    assert edge.valid_device_id(raw) is None


def test_a_new_device_id_is_random_and_valid():
    a, b = edge.new_device_id(), edge.new_device_id()
    assert a != b and edge.valid_device_id(a) == a


def test_ip_prefixes():
    assert edge.ip_prefix("203.0.113.77") == "203.0.113.0/24"
    assert edge.ip_prefix("2001:db8:1:2::5") == "2001:db8:1::/48"
    assert edge.ip_prefix("testclient") is None and edge.ip_prefix(None) is None


def test_keyed_hashes_match_per_kind_and_need_the_key():
    with edge.hash_key.using("k1"):
        assert edge.keyed("device", "abc") == edge.keyed("device", "abc") != edge.keyed("phone", "abc")
        one = edge.keyed("device", "abc")
        assert edge.keyed("device", None) is None and edge.keyed("device", "") is None
    with edge.hash_key.using("k2"):
        assert edge.keyed("device", "abc") != one
    with edge.hash_key.using(None):
        assert edge.keyed("device", "abc") is None
