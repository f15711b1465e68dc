"""Files ``conservancy bank import`` refuses: one line, exit 1, and nothing written, not to
the database and not to the books."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conservancy.bank import service
from conservancy.bank.models import BankLine, BankStatement
from conservancy.bank.statement import Statement, StatementLine, StatementRefused
from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.ledger.models import LedgerOutbox
from conservancy.money import Currency, Money
from conservancy.runtime import Runtime
from tests.bank import statements
from tests.cli import invoke
from tests.environment import settings_env

NUMBER = "000123456789"


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def a_statement(number: str | None = NUMBER, currency: Currency = Currency.USD) -> Statement:
    end = clock.today(Settings().timezone) - timedelta(1)
    amount = Money.parse("12.00", currency)
    return Statement(
        format="",
        account_number=number,
        currency=currency,
        start=end - timedelta(5),
        end=end,
        opening=Money.zero(currency),
        closing=-amount,
        lines=(StatementLine("F-1", end, -amount, "", "SERVICE FEE"),),
    )


def env(settings: Settings, accounts: dict[str, object] | None = None) -> dict[str, str]:
    found = settings_env(settings)
    if accounts is not None:
        found["CONSERVANCY_BANK_ACCOUNTS"] = json.dumps(accounts)
    return found


def state(rt: Runtime) -> tuple[int, int, int, str]:
    """Statements, lines and outbox rows held, and a digest of the books' files."""
    with rt.sessions() as session:
        counts = [
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (BankStatement, BankLine, LedgerOutbox)
        ]
    digest = hashlib.sha256()
    for path in sorted(rt.ledger.root.rglob("*.beancount")):
        digest.update(path.read_bytes())
    return counts[0], counts[1], counts[2], digest.hexdigest()


def refused(rt: Runtime, environ: dict[str, str], path: Path, *args: str) -> str:
    before = state(rt)
    done = invoke(environ, "bank", "import", str(path), *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    (message,) = done.stderr.splitlines()
    assert message.startswith("error: ")
    assert state(rt) == before
    return message.removeprefix("error: ")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&lol2;</Document>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><x>&xxe;</x></Document>"""


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("junk.ofx", bytes(range(256)) * 4, "not an OFX, camt.053 or CSV statement"),
        ("empty.csv", b"", "empty"),
        ("laughs.xml", BILLION_LAUGHS, "DOCTYPE"),
        ("xxe.xml", EXTERNAL_ENTITY, "DOCTYPE"),
        ("cut.xml", statements.to_camt053(a_statement())[:300], "camt.053"),
        ("cents.csv", b"Date,Description,Amount\n2026-11-02,FEE,-12.345\n", "12.345"),
    ],
)
def test_malformed_and_hostile_files_are_refused_in_one_line(
    runtime: Runtime, tmp_path: Path, name: str, content: bytes, says: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert says.lower() in refused(runtime, env(runtime.settings), path).lower()


def test_a_statement_for_another_account_is_refused_naming_only_the_last_digits(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "other.ofx"
    path.write_bytes(statements.to_ofx(a_statement(number="999988887777")))
    configured = env(runtime.settings, {"Assets:Bank:Checking": {"number": NUMBER}})
    message = refused(runtime, configured, path)
    assert message == (
        "the statement is for account ending 7777, not Assets:Bank:Checking (ending 6789)"
    )
    assert "999988887777" not in message


def test_without_a_configured_number_the_first_statements_number_is_held_to(
    runtime: Runtime, tmp_path: Path
) -> None:
    first = tmp_path / "first.ofx"
    first.write_bytes(statements.to_ofx(a_statement()))
    done = invoke(env(runtime.settings), "bank", "import", str(first))
    assert done.returncode == 0, done.stdout + done.stderr
    other = tmp_path / "other.ofx"
    other.write_bytes(statements.to_ofx(a_statement(number="555500001111")))
    assert refused(runtime, env(runtime.settings), other) == (
        "the statement is for account ending 1111, not Assets:Bank:Checking (ending 6789)"
    )


def test_a_statement_in_another_currency_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "euro.xml"
    path.write_bytes(statements.to_camt053(a_statement(currency=Currency.EUR)))
    assert refused(runtime, env(runtime.settings), path) == (
        "the statement is in EUR; Assets:Bank:Checking is kept in USD"
    )


def test_an_account_not_configured_and_a_statement_from_the_future_are_refused(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "fine.ofx"
    path.write_bytes(statements.to_ofx(a_statement()))
    assert refused(
        runtime, env(runtime.settings), path, "--account", "Assets:Bank:Savings"
    ).startswith("Assets:Bank:Savings is not a bank account statements are imported for")
    tomorrow = clock.today(runtime.settings.timezone) + timedelta(1)
    future = replace(
        a_statement(),
        end=tomorrow,
        lines=(StatementLine("F-2", tomorrow, -usd("12.00"), "", "FEE"),),
    )
    path.write_bytes(statements.to_ofx(future))
    assert refused(runtime, env(runtime.settings), path) == (
        f"the statement ends on {tomorrow}, after today"
    )


def test_a_csv_map_that_cannot_be_read_is_named(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "fine.csv"
    path.write_bytes(b"Date,Description,Amount\n2026-11-02,FEE,-12.00\n")
    configured = env(runtime.settings, {"Assets:Bank:Checking": {"csv": {"colour": "Blue"}}})
    assert refused(runtime, configured, path).startswith(
        "CONSERVANCY_BANK_ACCOUNTS: Assets:Bank:Checking's csv:"
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("[1]", "JSON object naming at least one bank account"),
        ('{"Checking": {}}', "'Checking' is not a bank account"),
        ('{"Assets:Bank:Checking": {"currency": "XYZ"}}', "currency must be one of"),
        ('{"Assets:Bank:Checking": {"numbr": "1"}}', "number, currency and csv only"),
    ],
)
def test_a_malformed_bank_accounts_setting_stops_the_command_in_one_line(
    tmp_path: Path, value: str, says: str
) -> None:
    environ = {
        "CONSERVANCY_ENV": "test",
        "CONSERVANCY_INSTANCE_DIR": str(tmp_path),
        "CONSERVANCY_BANK_ACCOUNTS": value,
    }
    done = invoke(environ, "bank", "lines")
    assert done.returncode == 2
    (message,) = done.stderr.splitlines()
    assert message.startswith("error: CONSERVANCY_BANK_ACCOUNTS")
    assert says in message


def test_a_bank_id_longer_than_its_column_is_kept_by_its_digest_and_known_again(
    runtime: Runtime, tmp_path: Path
) -> None:
    """OFX allows a FITID of 255 characters; the lines' column holds 100."""
    long_id = "F" * 180
    statement = replace(
        a_statement(),
        lines=(replace(a_statement().lines[0], bank_id=long_id, check_number="9" * 30),),
    )
    path = tmp_path / "long.ofx"
    path.write_bytes(statements.to_ofx(statement))
    done = invoke(env(runtime.settings), "bank", "import", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    other = tmp_path / "same-lines.xml"
    other.write_bytes(statements.to_camt053(statement))
    again = invoke(env(runtime.settings), "bank", "import", str(other))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 lines, 0 new, 1 imported before" in again.stdout
    with runtime.sessions() as session:
        (line,) = session.scalars(select(BankLine)).all()
        assert line.bank_id.startswith("sha256-")
        assert line.check_number == "9" * 20


def test_an_account_number_no_bank_has_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(b"Date,Description,Amount,Account\n2026-11-02,FEE,-12.00," + b"1" * 80 + b"\n")
    configured = env(runtime.settings, {"Assets:Bank:Checking": {"csv": {"account": "Account"}}})
    assert refused(runtime, configured, path) == (
        "the statement's account number is 80 characters long: no bank's is"
    )


def test_a_statement_reaching_into_a_closed_year_is_refused(runtime: Runtime) -> None:
    """The day-to-day books no longer list a closed year's entries: its lines would all be
    proposed again, and booked twice."""
    statement = a_statement()
    before = state(runtime)
    with runtime.sessions() as session, pytest.raises(StatementRefused) as refusal:
        service.import_statement(
            session,
            runtime.books.index,
            runtime.settings.bank_accounts[0],
            statements.to_ofx(statement),
            file_name="old.ofx",
            actor="tests",
            today=clock.today(runtime.settings.timezone),
            open_from=statement.start + timedelta(1),
        )
    assert str(refusal.value) == (
        f"the statement starts on {statement.start}, in a year the books have closed "
        f"(they hold {statement.start + timedelta(1)} on): reconcile a year before closing it"
    )
    assert state(runtime) == before
