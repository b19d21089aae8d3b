"""Credentials at rest: sealed under the configured keys, never readable without them."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from linli import vault
from linli.config import ConfigError, Settings


def test_a_sealed_secret_opens_only_with_its_key_and_never_shows_in_the_column():
    with vault.ring.using(vault.key_ring("", "a" * 40)):
        token = vault.seal("apiv3-key-0123456789abcdef")
        assert "apiv3" not in token and vault.open_sealed(token) == "apiv3-key-0123456789abcdef"
    with vault.ring.using(vault.key_ring("", "b" * 40)), pytest.raises(vault.VaultError):
        vault.open_sealed(token)  # another deployment's secret key
    with vault.ring.using(vault.key_ring("", "a" * 40)), pytest.raises(vault.VaultError):
        vault.open_sealed(token[:-6] + "AAAAAA")  # altered


def test_rotation_seals_with_the_newest_key_and_still_opens_the_old():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with vault.ring.using(vault.key_ring(old, "x" * 40)):
        token = vault.seal("s3cret-private-key")
    with vault.ring.using(vault.key_ring(f"{new},{old}", "x" * 40)):
        assert vault.open_sealed(token) == "s3cret-private-key"
        rotated = vault.rotate(token)
    with vault.ring.using(vault.key_ring(new, "x" * 40)):
        assert vault.open_sealed(rotated) == "s3cret-private-key"


def test_an_unfilled_vault_refuses_to_seal_rather_than_store_plain_text():
    with vault.ring.using(None), pytest.raises(vault.VaultError):
        vault.seal("anything")


def test_a_vault_key_that_is_not_a_fernet_key_is_refused_at_load():
    with pytest.raises(ConfigError, match="LINLI_VAULT_KEYS"):
        Settings(vault_keys="not-a-key")


def test_mask_shows_at_most_the_last_four_characters():
    assert vault.mask("0123456789abcdef") == "••••cdef"
    assert vault.mask("short") == "••••" and vault.mask(None) == ""
