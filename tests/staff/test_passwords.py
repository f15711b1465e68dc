"""Passwords are hashed at argon2's recommended cost (the rest of the suite hashes at the
cheapest cost, tests/conftest.py), and a hash made at another cost is redone at sign-in."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from conservancy.staff import passwords

pytestmark = pytest.mark.usefixtures("production_password_hashing")


def test_the_site_hashes_with_argon2s_recommended_cost() -> None:
    """RFC 9106's second recommendation: argon2id, 64 MiB, three passes, four lanes."""
    stored = passwords.hash_password("correct horse battery staple")

    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify(stored, "correct horse battery staple")
    assert not passwords.verify(stored, "correct horse battery stapler")
    assert not passwords.needs_rehash(stored)


def test_a_cheaper_hash_still_lets_its_owner_in_and_is_marked_for_redoing() -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("a long passphrase")

    assert passwords.verify(cheap, "a long passphrase")
    assert passwords.needs_rehash(cheap)
