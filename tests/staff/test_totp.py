"""Codes as RFC 6238 computes them, accepted a step either side, never twice."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from conservancy.staff import totp

# RFC 6238, appendix B: the SHA-1 key, and the last six digits of its eight-digit codes.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    ("unix_time", "code"),
    [
        (59, "287082"),
        (1111111109, "081804"),
        (1111111111, "050471"),
        (1234567890, "005924"),
        (2000000000, "279037"),
        (20000000000, "353130"),
    ],
)
def test_codes_are_those_of_rfc_6238(unix_time: int, code: str) -> None:
    moment = datetime.fromtimestamp(unix_time, UTC)
    assert totp.code_for(RFC_SECRET, totp.step_at(moment)) == code


def test_a_code_is_accepted_one_step_either_side_and_no_further() -> None:
    moment = datetime.fromtimestamp(1111111111, UTC)
    step = totp.step_at(moment)
    for offset in (-1, 0, 1):
        code = totp.code_for(RFC_SECRET, step + offset)
        assert totp.matching_step(RFC_SECRET, code, moment, None) == step + offset
    for offset in (-2, 2):
        code = totp.code_for(RFC_SECRET, step + offset)
        assert totp.matching_step(RFC_SECRET, code, moment, None) is None


def test_a_code_of_a_step_already_used_or_earlier_is_refused() -> None:
    moment = datetime.fromtimestamp(1111111111, UTC)
    step = totp.step_at(moment)
    code = totp.code_for(RFC_SECRET, step)
    assert totp.matching_step(RFC_SECRET, code, moment, after=step) is None
    assert totp.matching_step(RFC_SECRET, code, moment, after=step + 1) is None
    assert totp.matching_step(RFC_SECRET, code, moment, after=step - 1) == step


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12a456", "abcdef"])
def test_anything_but_six_digits_is_no_code(typed: str) -> None:
    moment = datetime.fromtimestamp(59, UTC)
    assert totp.matching_step(RFC_SECRET, typed, moment, None) is None


def test_a_new_secret_is_160_random_bits_in_base32() -> None:
    first, second = totp.new_secret(), totp.new_secret()
    assert first != second
    assert len(base64.b32decode(first)) == 20


def test_the_provisioning_uri_names_the_sponsor_and_the_account() -> None:
    uri = totp.provisioning_uri("ABCDEFGH", account="ada@example.org", issuer="Acme, Inc.")
    assert uri == (
        "otpauth://totp/Acme%2C%20Inc.:ada@example.org?secret=ABCDEFGH&issuer=Acme%2C+Inc."
        "&algorithm=SHA1&digits=6&period=30"
    )
