"""Settings: SPEC section 3's defaults, and one line naming the variable for each bad value."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from conservancy.infra.config import Environment, Settings, SettingsError
from conservancy.money import Currency, Money
from tests.environment import settings_env

CONSERVANCY = Path(sys.executable).parent / "conservancy"


def test_defaults_follow_the_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.env is Environment.PRODUCTION
    assert settings.database_url == f"sqlite:///{tmp_path}/instance/conservancy.db"
    assert settings.ledger_dir == tmp_path / "ledgers"
    assert settings.receipts_dir == tmp_path / "receipts"
    assert settings.secret_key is None
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.stripe_api_base is None
    assert settings.smtp_url is None
    assert settings.timezone.key == "America/New_York"
    assert settings.max_donation == Money.parse("100,000.00", Currency.USD)


def test_blank_variables_mean_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"CONSERVANCY_TIMEZONE": "  ", "CONSERVANCY_DATABASE_URL": ""})
    assert settings.timezone.key == "America/New_York"
    assert settings.database_url == f"sqlite:///{tmp_path}/instance/conservancy.db"


def test_relative_folders_are_taken_from_the_working_directory_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env(
        {
            "CONSERVANCY_DATABASE_URL": "sqlite:///data/../db/books.db",
            "CONSERVANCY_LEDGER_DIR": "books",
            "CONSERVANCY_RECEIPTS_DIR": "./pdfs",
            "CONSERVANCY_INSTANCE_DIR": "var/instance",
            "CONSERVANCY_UPLOADS_DIR": "public",
        }
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert settings.database_url == f"sqlite:///{tmp_path}/db/books.db"
    assert settings.ledger_dir == tmp_path / "books"
    assert settings.receipts_dir == tmp_path / "pdfs"
    assert settings.instance_dir == tmp_path / "var" / "instance"
    assert settings.uploads_dir == tmp_path / "public"
    assert settings.outbox_dir == tmp_path / "var" / "instance" / "outbox"


def test_the_default_database_is_in_the_instance_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"CONSERVANCY_INSTANCE_DIR": "/srv/conservancy/instance"})
    assert settings.database_url == "sqlite:////srv/conservancy/instance/conservancy.db"
    # Named, it is where it says, from the working directory.
    named = Settings.from_env(
        {
            "CONSERVANCY_INSTANCE_DIR": "/srv/conservancy/instance",
            "CONSERVANCY_DATABASE_URL": "sqlite:///instance/conservancy.db",
        }
    )
    assert named.database_url == f"sqlite:///{tmp_path}/instance/conservancy.db"


def test_settings_made_in_code_have_absolute_folders_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    made = Settings(ledger_dir=Path("books"), uploads_path=Path("up"))
    assert made.ledger_dir == tmp_path / "books"
    assert made.receipts_dir == tmp_path / "receipts"
    assert made.instance_dir == tmp_path / "instance"
    assert made.uploads_dir == tmp_path / "up"
    assert made.database_url == f"sqlite:///{tmp_path}/instance/conservancy.db"
    assert Settings(database_url="sqlite://").database_url == "sqlite://"  # in memory
    moved = replace(made, instance_dir=Path("other"))
    assert moved.outbox_dir == tmp_path / "other" / "outbox"


def test_values_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "CONSERVANCY_ENV": "demo",
            "CONSERVANCY_DATABASE_URL": "postgresql://app@db.internal:5432/books",
            "CONSERVANCY_LEDGER_DIR": "/srv/books",
            "CONSERVANCY_BASE_URL": "https://give.example.org/",
            "CONSERVANCY_SMTP_URL": "smtp://mail.example.org:587",
            "CONSERVANCY_TIMEZONE": "Europe/Amsterdam",
            "CONSERVANCY_MAX_DONATION": "25,000.00",
            "CONSERVANCY_SECRET_KEY": "x" * 32,
        }
    )
    assert settings.env is Environment.DEMO
    # psycopg 3 is the driver shipped, so a plain postgresql:// URL is pointed at it.
    assert settings.database_url == "postgresql+psycopg://app@db.internal:5432/books"
    assert settings.ledger_dir == Path("/srv/books")
    assert settings.base_url == "https://give.example.org"
    assert settings.smtp_url == "smtp://mail.example.org:587"
    assert settings.timezone.key == "Europe/Amsterdam"
    assert settings.max_donation.minor == 2500000
    assert settings.web_secret_key() == "x" * 32


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CONSERVANCY_DATABASE_URL", "mysql://root@localhost/books"),
        ("CONSERVANCY_DATABASE_URL", "instance/conservancy.db"),
        ("CONSERVANCY_DATABASE_URL", "postgresql://app:secret@db:port/books"),
        ("CONSERVANCY_TIMEZONE", "Mars/Olympus_Mons"),
        ("CONSERVANCY_TIMEZONE", "America"),
        ("CONSERVANCY_BASE_URL", "127.0.0.1:5000"),
        ("CONSERVANCY_BASE_URL", "ftp://example.org"),
        ("CONSERVANCY_STRIPE_API_BASE", "localhost"),
        ("CONSERVANCY_SMTP_URL", "http://mail.example.org"),
        ("CONSERVANCY_SMTP_URL", "smtp://mail.example.org:99999"),
        ("CONSERVANCY_MAX_DONATION", "lots"),
        ("CONSERVANCY_MAX_DONATION", "0"),
        ("CONSERVANCY_MAX_DONATION", "100.001"),
        ("CONSERVANCY_SECRET_KEY", "too-short"),
        ("CONSERVANCY_ENV", "staging"),
        ("CONSERVANCY_MAIL_FROM", "receipts"),
        ("CONSERVANCY_MAIL_FROM", "Receipts <receipts@example.org>"),
        ("CONSERVANCY_STAFF_IDLE_MINUTES", "thirty"),
        ("CONSERVANCY_STAFF_IDLE_MINUTES", "4"),
        ("CONSERVANCY_STAFF_IDLE_MINUTES", "7.5"),
        ("CONSERVANCY_STAFF_IDLE_MINUTES", "721"),  # longer than the 12-hour session
        ("CONSERVANCY_STAFF_SESSION_HOURS", "0"),
        ("CONSERVANCY_STAFF_SESSION_HOURS", "-1"),
        ("CONSERVANCY_STAFF_SESSION_HOURS", "169"),
        ("CONSERVANCY_STAFF_LOCKOUT_MINUTES", "15m"),
        ("CONSERVANCY_STAFF_LOCKOUT_MINUTES", "0"),
        ("CONSERVANCY_STAFF_LOCKOUT_FAILURES", "0"),
        ("CONSERVANCY_STAFF_LOCKOUT_FAILURES", "21"),
        ("CONSERVANCY_REDIS_URL", "localhost:6379"),
        ("CONSERVANCY_REDIS_URL", "http://localhost:6379/0"),
        ("CONSERVANCY_REDIS_URL", "redis://localhost:port/0"),
        ("CONSERVANCY_PROXY_HOPS", "6"),
        ("CONSERVANCY_PROXY_HOPS", "one"),
        ("CONSERVANCY_DONOR_IDLE_MINUTES", "4"),
        ("CONSERVANCY_DONOR_IDLE_MINUTES", "721"),  # longer than the 12-hour donor session
        ("CONSERVANCY_DONOR_IDLE_MINUTES", "half an hour"),
        ("CONSERVANCY_SPENDING_RECEIPT_FROM", "75 dollars"),
        ("CONSERVANCY_SPENDING_RECEIPT_FROM", "0"),
        ("CONSERVANCY_SPENDING_MAX_AGE_DAYS", "0"),
        ("CONSERVANCY_SPENDING_MAX_AGE_DAYS", "sixty"),
        ("CONSERVANCY_SPENDING_TWO_APPROVALS_ABOVE", "-1"),
    ],
)
def test_a_malformed_variable_is_named_in_one_line(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    message = str(caught.value)
    assert variable in message
    assert "\n" not in message


def test_the_spending_policy_defaults_to_the_irs_accountable_plan_and_can_be_set() -> None:
    default = Settings.from_env({}).spending
    assert (default.receipt_from.minor, default.max_age_days) == (75_00, 60)
    assert default.two_approvals_above.minor == 5000_00
    chosen = Settings.from_env(
        {
            "CONSERVANCY_SPENDING_RECEIPT_FROM": "25.00",
            "CONSERVANCY_SPENDING_MAX_AGE_DAYS": "30",
            "CONSERVANCY_SPENDING_TWO_APPROVALS_ABOVE": "1000.00",
        }
    ).spending
    assert (chosen.receipt_from.minor, chosen.max_age_days) == (25_00, 30)
    assert chosen.two_approvals_above.minor == 1000_00


def test_staff_sessions_and_lock_out_default_to_the_values_they_always_had() -> None:
    settings = Settings.from_env({})
    assert settings.staff_idle_timeout == timedelta(minutes=30)
    assert settings.staff_session_lifetime == timedelta(hours=12)
    assert settings.staff_lockout_failures == 5
    assert settings.staff_lockout_time == timedelta(minutes=15)


def test_staff_sessions_and_lock_out_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "CONSERVANCY_STAFF_IDLE_MINUTES": "10",
            "CONSERVANCY_STAFF_SESSION_HOURS": "8",
            "CONSERVANCY_STAFF_LOCKOUT_MINUTES": "60",
            "CONSERVANCY_STAFF_LOCKOUT_FAILURES": "3",
        }
    )
    assert settings.staff_idle_timeout == timedelta(minutes=10)
    assert settings.staff_session_lifetime == timedelta(hours=8)
    assert settings.staff_lockout_time == timedelta(hours=1)
    assert settings.staff_lockout_failures == 3


def test_a_donor_session_idles_out_after_thirty_minutes_unless_configured() -> None:
    assert Settings.from_env({}).donor_idle_timeout == timedelta(minutes=30)
    configured = Settings.from_env({"CONSERVANCY_DONOR_IDLE_MINUTES": "10"})
    assert configured.donor_idle_timeout == timedelta(minutes=10)


def test_an_idle_time_longer_than_the_session_names_both_variables() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {"CONSERVANCY_STAFF_IDLE_MINUTES": "90", "CONSERVANCY_STAFF_SESSION_HOURS": "1"}
        )
    assert str(caught.value) == (
        "CONSERVANCY_STAFF_IDLE_MINUTES (90) must not be longer than a session "
        "(CONSERVANCY_STAFF_SESSION_HOURS: 1 h)"
    )


def test_mail_comes_from_the_configured_address_or_one_at_the_sites_host() -> None:
    chosen = Settings.from_env({"CONSERVANCY_MAIL_FROM": "giving@example.org"})
    at_host = Settings.from_env({"CONSERVANCY_BASE_URL": "https://give.example.org"})
    local = Settings.from_env({})
    assert chosen.sender_address == "giving@example.org"
    assert at_host.sender_address == "receipts@give.example.org"
    assert local.sender_address == "receipts@localhost"  # 127.0.0.1 is no mail domain


def test_a_malformed_database_url_does_not_echo_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CONSERVANCY_DATABASE_URL": "postgresql://app:hunter2@db:x/books"})
    assert "hunter2" not in str(caught.value)


def test_a_malformed_redis_url_does_not_echo_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CONSERVANCY_REDIS_URL": "redis://:hunter2@cache:x/0"})
    assert "hunter2" not in str(caught.value)


def test_redis_is_unset_unless_configured() -> None:
    assert Settings.from_env({}).redis_url is None
    url = "rediss://:pw@cache.example.org:6380/2"
    assert Settings.from_env({"CONSERVANCY_REDIS_URL": url}).redis_url == url


def test_production_without_a_secret_key_refuses_to_sign_sessions() -> None:
    settings = Settings.from_env({})
    with pytest.raises(SettingsError, match="CONSERVANCY_SECRET_KEY"):
        settings.web_secret_key()


@pytest.mark.parametrize("env", ["demo", "test"])
def test_demo_and_test_run_without_a_secret_key(env: str) -> None:
    settings = Settings.from_env({"CONSERVANCY_ENV": env})
    assert settings.web_secret_key()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A test installation in tmp_path; settings fail before any database is touched."""
    return settings_env(
        Settings(
            env=Environment.TEST,
            database_url=f"sqlite:///{tmp_path / 'conservancy.db'}",
            ledger_dir=tmp_path / "ledgers",
            receipts_dir=tmp_path / "receipts",
            instance_dir=tmp_path / "instance",
        )
    )


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSERVANCY), *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("CONSERVANCY_TIMEZONE", "Mars/Olympus_Mons", ["ledger", "check"]),
        ("CONSERVANCY_DATABASE_URL", "postgresql://app@db:port/books", ["init"]),
        ("CONSERVANCY_SMTP_URL", "smtp://", ["project", "add", "x", "--name", "X"]),
    ],
)
def test_the_cli_names_a_malformed_setting_in_one_line_and_exits_2(
    cli_env: dict[str, str], variable: str, value: str, command: list[str]
) -> None:
    env = cli_env | {variable: value}
    result = _run(env, *command)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_in_production_without_a_secret_key_exits_2_naming_it(
    cli_env: dict[str, str],
) -> None:
    env = cli_env | {"CONSERVANCY_ENV": "production"}
    result = _run(env, "serve", "--port", "1")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "CONSERVANCY_SECRET_KEY" in result.stderr


def test_the_demo_reaches_its_stand_in_with_nothing_but_the_mode_set() -> None:
    """SPEC section 2: in demo, Stripe's keys are the stand-in's and its address is the
    stand-in's, so `conservancy stripe sync` beside a running `conservancy demo` needs only
    CONSERVANCY_ENV=demo; anything set still wins, and outside the demo nothing is assumed."""
    demo = Settings.from_env({"CONSERVANCY_ENV": "demo"})
    assert (demo.stripe_secret_key, demo.stripe_webhook_secret, demo.stripe_api_base) == (
        "sk_test_standin",
        "whsec_standin",
        "http://127.0.0.1:12111",
    )
    elsewhere = Settings.from_env(
        {
            "CONSERVANCY_ENV": "demo",
            "CONSERVANCY_STRIPE_SECRET_KEY": "sk_test_mine",
            "CONSERVANCY_STRIPE_WEBHOOK_SECRET": "whsec_mine",
            "CONSERVANCY_STRIPE_API_BASE": "http://127.0.0.1:9999",
        }
    )
    assert (elsewhere.stripe_secret_key, elsewhere.stripe_webhook_secret) == (
        "sk_test_mine",
        "whsec_mine",
    )
    assert elsewhere.stripe_api_base == "http://127.0.0.1:9999"
    for mode in ("test", "production"):
        env = {"CONSERVANCY_ENV": mode, "CONSERVANCY_SECRET_KEY": "x" * 32}
        settings = Settings.from_env(env)
        assert settings.stripe_secret_key is None
        assert settings.stripe_api_base is None


def test_payee_keys_are_asked_for_in_production_and_derived_in_demo_and_test() -> None:
    production = Settings.from_env({"CONSERVANCY_SECRET_KEY": "x" * 32})
    with pytest.raises(SettingsError, match="CONSERVANCY_PAYEE_KEYS is required") as caught:
        production.payee_key_list()
    assert "\n" not in str(caught.value)
    demo = Settings.from_env({"CONSERVANCY_ENV": "demo", "CONSERVANCY_SECRET_KEY": "x" * 32})
    derived = demo.payee_key_list()
    assert derived != demo.totp_key_list()  # a key of its own, not the TOTP secrets'
    assert len(derived) == 1
    assert len(derived[0]) == 44
    key = "A" * 43 + "="
    assert Settings.from_env({"CONSERVANCY_PAYEE_KEYS": key}).payee_key_list() == (key,)
    with pytest.raises(SettingsError, match="CONSERVANCY_PAYEE_KEYS: key 1 of 1 is not a key"):
        Settings.from_env({"CONSERVANCY_PAYEE_KEYS": "short"})
