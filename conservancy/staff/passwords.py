"""Password hashing (argon2id, the library's defaults) and the rule for a new password."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from conservancy.kernel.errors import DomainError

MIN_LENGTH = 12
MAX_LENGTH = 1000  # hashing a megabyte on every try would be a cheap way to load the server

_hasher = PasswordHasher()


class BadPassword(DomainError):
    """A new password the rules refuse; the message says why."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not anyone's password, hashed once to spend the same time")


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; with no stored hash, spends the same time
    on a dummy one and says no, so an unknown account takes as long as a known one."""
    too_long = len(password) > MAX_LENGTH
    try:
        matched = _hasher.verify(stored or _dummy_hash(), password[:MAX_LENGTH])
    except (VerificationError, InvalidHashError):
        return False
    return matched and stored is not None and not too_long


def needs_rehash(stored: str) -> bool:
    """True when the hash was made with weaker settings than today's defaults."""
    return _hasher.check_needs_rehash(stored)


def check_new_password(password: str, email: str) -> None:
    """Refuse a password that is too short, too long, or the e-mail address itself."""
    if len(password) < MIN_LENGTH:
        raise BadPassword(f"Use at least {MIN_LENGTH} characters; a few words make a good one.")
    if len(password) > MAX_LENGTH:
        raise BadPassword(f"Use at most {MAX_LENGTH} characters.")
    if password.strip().lower() == email.strip().lower():
        raise BadPassword("Your password cannot be your e-mail address.")
