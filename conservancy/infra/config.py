"""Settings: one typed object, read from ``CONSERVANCY_*`` variables once at start-up.

A missing or malformed setting raises :class:`SettingsError` whose message is
one line naming the variable; the CLI prints it and exits 2.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from conservancy.kernel import clock
from conservancy.money import Currency, Money, MoneyError


class SettingsError(Exception):
    """A setting is missing or malformed. The message names the variable."""


class Environment(StrEnum):
    PRODUCTION = "production"
    DEMO = "demo"
    TEST = "test"


# The demo's Stripe is the stand-in `conservancy demo` starts (SPEC section 2: the Stripe
# keys default to "the stand-in's" in demo), so that commands run beside it with only
# CONSERVANCY_ENV=demo (`stripe sync`, `sweep`) reach it.
DEMO_STRIPE_PORT = 12111
DEMO_STRIPE_KEY = "sk_test_standin"
DEMO_WEBHOOK_SECRET = "whsec_standin"  # noqa: S105 - the stand-in's, public by design
DEMO_STRIPE_API_BASE = f"http://127.0.0.1:{DEMO_STRIPE_PORT}"


_Choice = TypeVar("_Choice", bound=StrEnum)


class ScheduleBRule(StrEnum):
    """CONSERVANCY_SCHEDULE_B_RULE: the Schedule B rule the sponsor files under. ``general``:
    contributors of 5,000.00 or more; ``special``, for a section 509(a)(1) /
    170(b)(1)(A)(vi) organisation: of the greater of 5,000.00 and 2% of Part VIII line 1h."""

    GENERAL = "general"
    SPECIAL = "special"


# The SQLite file conservancy.db in the instance folder: with the default folder, this URL.
# Settings holds it as an absolute URL, in whatever instance folder it was given.
DEFAULT_DATABASE_URL = "sqlite:///instance/conservancy.db"
# Staff sign-in (conservancy.staff.sign_in). A session's last use is written once a
# minute, so an idle time shorter than a few minutes would end sessions early by up
# to a minute: five is the least. LOCKOUT_FAILURES: wrong tries per account and client
# address before delays start (past 20, the form's own limit of 30 tries per client
# address in ten minutes would bind first). LOCKOUT_MINUTES: the longest delay.
STAFF_IDLE_MINUTES = (5, 30, 168 * 60)  # (least, default, most)
STAFF_SESSION_HOURS = (1, 12, 168)  # at most a week
STAFF_LOCKOUT_MINUTES = (1, 15, 1440)
# CONSERVANCY_SPENDING_MAX_AGE_DAYS: how soon after an expense a request for it must come.
SPENDING_MAX_AGE_DAYS = (1, 60, 366)
STAFF_LOCKOUT_FAILURES = (1, 5, 20)
# The donor portal: a session ends after this many minutes without a request (written
# once a minute, as staff sessions are), and in any case 12 hours after signing in
# (conservancy.portal.service.SESSION_LIFETIME), which bounds it.
DONOR_IDLE_MINUTES = (5, 30, 12 * 60)
# Staff and donor sessions alike: a session's last use is written at most this often, not on
# every request (so an idle time is kept to within this much).
SESSION_SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class WireInstructions:
    """Where a wire reaches the sponsor (CONSERVANCY_WIRE_*): all of them set, or none.

    The ways-to-give pages show them; unset, they say to ask, never a made-up number.
    """

    bank: str  # the bank's name and address, as a sender's bank asks for it
    routing_number: str  # ABA, nine digits
    account_number: str
    swift: str | None = None  # for wires from abroad


@dataclass(frozen=True)
class StockInstructions:
    """Where donated shares are transferred (CONSERVANCY_STOCK_*): all set, or none."""

    broker: str
    dtc_number: str  # the broker's DTC participant number, four digits
    account_number: str


@dataclass(frozen=True)
class SpendingPolicy:
    """The rules a spending request is held to (CONSERVANCY_SPENDING_*): the IRS's
    accountable plan asks for a receipt for every expense of $75.00 or more and for all
    lodging (Treas. Reg. 1.274-5(c)(2)(iii)), and for the request within a reasonable time
    (60 days: 1.62-2(g)(2)); above ``two_approvals_above`` two of the sponsor's staff approve."""

    receipt_from: Money = field(default_factory=lambda: Money.parse("75.00", Currency.USD))
    max_age_days: int = SPENDING_MAX_AGE_DAYS[1]
    two_approvals_above: Money = field(default_factory=lambda: Money.parse("5000.00", Currency.USD))


@dataclass(frozen=True)
class BankAccount:
    """One bank account whose statements are imported (CONSERVANCY_BANK_ACCOUNTS).

    ``number``: the bank's account number or IBAN; a statement that names another is
    refused (unset: the number of the first statement imported is held to). ``csv``:
    the bank's CSV column map, as given (``bank.formats.CsvMap`` reads and checks it).
    """

    account: str  # Assets:Bank:<Name>
    currency: Currency = Currency.USD
    number: str | None = None
    csv: Mapping[str, object] | None = None


# CONSERVANCY_BANK_ACCOUNTS unset: the sponsor's one bank account, numbers learnt.
DEFAULT_BANK_ACCOUNTS = (BankAccount("Assets:Bank:Checking"),)
_BANK_ACCOUNT = re.compile(r"^Assets:Bank:[A-Z][A-Za-z0-9-]{0,62}$")
_BANK_KEYS = frozenset({"number", "currency", "csv"})


@dataclass(frozen=True)
class Settings:
    """Every folder and the SQLite file are absolute once the settings exist (relative ones
    are taken from the working directory then), so nothing later depends on where the
    process stands: Flask's ``send_file``, for one, takes a relative path as the package's."""

    env: Environment = Environment.PRODUCTION
    database_url: str = DEFAULT_DATABASE_URL
    ledger_dir: Path = Path("ledgers")
    receipts_dir: Path = Path("receipts")
    instance_dir: Path = Path("instance")
    secret_key: str | None = None
    base_url: str = "http://127.0.0.1:5000"
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    # CONSERVANCY_STRIPE_PROXY: the one proxy Stripe's calls go through. HTTP(S)_PROXY and
    # the like are not read for them (see payments.stripe_gateway).
    stripe_proxy: str | None = None
    smtp_url: str | None = None
    mail_from: str | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("America/New_York"))
    max_donation: Money = field(default_factory=lambda: Money.parse("100000.00", Currency.USD))
    # CONSERVANCY_UPLOADS_DIR; unset, the instance folder's uploads/ (see uploads_dir).
    uploads_path: Path | None = None
    # CONSERVANCY_STAFF_*: when a staff session ends; after how many failed sign-ins (per
    # account and client address) tries are delayed, and the longest delay.
    staff_idle_timeout: timedelta = timedelta(minutes=STAFF_IDLE_MINUTES[1])
    staff_session_lifetime: timedelta = timedelta(hours=STAFF_SESSION_HOURS[1])
    staff_lockout_time: timedelta = timedelta(minutes=STAFF_LOCKOUT_MINUTES[1])
    staff_lockout_failures: int = STAFF_LOCKOUT_FAILURES[1]
    # CONSERVANCY_DONOR_IDLE_MINUTES: when a donor's portal session ends without use.
    donor_idle_timeout: timedelta = timedelta(minutes=DONOR_IDLE_MINUTES[1])
    wire: WireInstructions | None = None
    stock: StockInstructions | None = None
    # CONSERVANCY_REDIS_URL: set, work after a commit goes to RQ (conservancy.background.jobs);
    # unset, it runs in the web process as it always has.
    redis_url: str | None = None
    # CONSERVANCY_PROXY_HOPS: how many reverse proxies (nginx) stand before the app and
    # may say the client's address (X-Forwarded-For) and scheme; 0: none, trust no header.
    proxy_hops: int = 0
    # CONSERVANCY_TOTP_KEYS: the keys that seal staff TOTP secrets, newest first (see
    # totp_key_list and conservancy.staff.totp_keys). Never echoed.
    totp_keys: tuple[str, ...] = ()
    # CONSERVANCY_PAYEE_KEYS: the keys that seal payees' tax ids and bank account numbers,
    # newest first (see payee_key_list and conservancy.expenses.payees). Never echoed.
    payee_keys: tuple[str, ...] = ()
    schedule_b_rule: ScheduleBRule = ScheduleBRule.GENERAL
    spending: SpendingPolicy = field(default_factory=lambda: SpendingPolicy())
    # CONSERVANCY_BANK_ACCOUNTS: the bank accounts statements are imported for.
    bank_accounts: tuple[BankAccount, ...] = DEFAULT_BANK_ACCOUNTS

    def __post_init__(self) -> None:
        absolute = {
            "ledger_dir": _absolute(self.ledger_dir),
            "receipts_dir": _absolute(self.receipts_dir),
            "instance_dir": _absolute(self.instance_dir),
            "uploads_path": None if self.uploads_path is None else _absolute(self.uploads_path),
            "database_url": _absolute_sqlite(
                f"sqlite:///{_absolute(self.instance_dir) / 'conservancy.db'}"
                if self.database_url == DEFAULT_DATABASE_URL
                else self.database_url
            ),
        }
        for name, value in absolute.items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(f"CONSERVANCY_{name}")
            return value.strip() if value and value.strip() else None

        mode = _parse(Environment, get("ENV") or "production", "CONSERVANCY_ENV")
        demo = mode is Environment.DEMO
        _test_clock(env, mode)
        session_hours = _whole(get, "STAFF_SESSION_HOURS", *STAFF_SESSION_HOURS, "hours")
        given_url = get("DATABASE_URL")
        settings = cls(
            env=mode,
            database_url=_database_url(given_url) if given_url else DEFAULT_DATABASE_URL,
            ledger_dir=Path(get("LEDGER_DIR") or "ledgers"),
            receipts_dir=Path(get("RECEIPTS_DIR") or "receipts"),
            instance_dir=Path(get("INSTANCE_DIR") or "instance"),
            secret_key=get("SECRET_KEY"),
            base_url=_http_url(get("BASE_URL") or "http://127.0.0.1:5000", "CONSERVANCY_BASE_URL"),
            stripe_secret_key=get("STRIPE_SECRET_KEY") or (DEMO_STRIPE_KEY if demo else None),
            stripe_webhook_secret=(
                get("STRIPE_WEBHOOK_SECRET") or (DEMO_WEBHOOK_SECRET if demo else None)
            ),
            stripe_api_base=_optional_http_url(
                get("STRIPE_API_BASE") or (DEMO_STRIPE_API_BASE if demo else None),
                "CONSERVANCY_STRIPE_API_BASE",
            ),
            stripe_proxy=_proxy_url(get("STRIPE_PROXY")),
            smtp_url=_smtp_url(get("SMTP_URL")),
            mail_from=_mail_from(get("MAIL_FROM")),
            timezone=_timezone(get("TIMEZONE") or "America/New_York"),
            max_donation=_amount(get("MAX_DONATION") or "100000.00", "CONSERVANCY_MAX_DONATION"),
            uploads_path=Path(uploads) if (uploads := get("UPLOADS_DIR")) else None,
            staff_idle_timeout=timedelta(minutes=_staff_idle_minutes(get, session_hours)),
            staff_session_lifetime=timedelta(hours=session_hours),
            staff_lockout_time=timedelta(
                minutes=_whole(get, "STAFF_LOCKOUT_MINUTES", *STAFF_LOCKOUT_MINUTES, "minutes")
            ),
            staff_lockout_failures=_whole(
                get, "STAFF_LOCKOUT_FAILURES", *STAFF_LOCKOUT_FAILURES, "failed tries"
            ),
            donor_idle_timeout=timedelta(
                minutes=_whole(get, "DONOR_IDLE_MINUTES", *DONOR_IDLE_MINUTES, "minutes")
            ),
            wire=_wire(get),
            stock=_stock(get),
            redis_url=_redis_url(get("REDIS_URL")),
            proxy_hops=_whole(get, "PROXY_HOPS", 0, 0, 5, "proxies"),
            totp_keys=_fernet_keys(get("TOTP_KEYS"), "CONSERVANCY_TOTP_KEYS"),
            payee_keys=_fernet_keys(get("PAYEE_KEYS"), "CONSERVANCY_PAYEE_KEYS"),
            schedule_b_rule=_parse(
                ScheduleBRule, get("SCHEDULE_B_RULE") or "general", "CONSERVANCY_SCHEDULE_B_RULE"
            ),
            spending=SpendingPolicy(
                receipt_from=_amount(
                    get("SPENDING_RECEIPT_FROM") or "75.00", "CONSERVANCY_SPENDING_RECEIPT_FROM"
                ),
                max_age_days=_whole(get, "SPENDING_MAX_AGE_DAYS", *SPENDING_MAX_AGE_DAYS, "days"),
                two_approvals_above=_amount(
                    get("SPENDING_TWO_APPROVALS_ABOVE") or "5000.00",
                    "CONSERVANCY_SPENDING_TWO_APPROVALS_ABOVE",
                ),
            ),
            bank_accounts=_bank_accounts(get("BANK_ACCOUNTS")),
        )
        if settings.secret_key is not None and len(settings.secret_key) < 16:
            raise SettingsError("CONSERVANCY_SECRET_KEY must be at least 16 characters")
        return settings

    @property
    def outbox_dir(self) -> Path:
        """Where mail goes as .eml files when no SMTP server is configured."""
        return self.instance_dir / "outbox"

    @property
    def uploads_dir(self) -> Path:
        """Files staff upload that the public may see: project logos."""
        return self.uploads_path if self.uploads_path is not None else self.instance_dir / "uploads"

    @property
    def sender_address(self) -> str:
        """The From address of donor mail: CONSERVANCY_MAIL_FROM, or one at the base URL's host."""
        if self.mail_from:
            return self.mail_from
        host = urlsplit(self.base_url).hostname or "localhost"
        if host.replace(".", "").isdigit() or ":" in host:
            host = "localhost"  # an IP address is no mail domain
        return f"receipts@{host}"

    def web_secret_key(self) -> str:
        """The session key; production refuses to start without a real one."""
        if self.secret_key:
            return self.secret_key
        if self.env is Environment.PRODUCTION:
            raise SettingsError(
                "CONSERVANCY_SECRET_KEY is required (set CONSERVANCY_ENV=demo to try it out)"
            )
        return instance_key(self.instance_dir)

    def totp_key_list(self) -> tuple[str, ...]:
        """The keys that seal TOTP secrets, newest first. Production requires
        CONSERVANCY_TOTP_KEYS; demo and test derive one from the session key (the
        instance's own unless CONSERVANCY_SECRET_KEY is set), kept nowhere else."""
        return self._sealing_keys(
            self.totp_keys, "CONSERVANCY_TOTP_KEYS", "staff two-factor secrets", b"totp"
        )

    def payee_key_list(self) -> tuple[str, ...]:
        """The keys that seal payees' tax ids and bank accounts, newest first. Production
        asks for CONSERVANCY_PAYEE_KEYS when the first payee saves their details; demo and
        test derive one from the session key, as for TOTP secrets."""
        return self._sealing_keys(
            self.payee_keys,
            "CONSERVANCY_PAYEE_KEYS",
            "payees' tax ids and bank accounts",
            b"payee",
        )

    def _sealing_keys(
        self, keys: tuple[str, ...], variable: str, what: str, purpose: bytes
    ) -> tuple[str, ...]:
        if keys:
            return keys
        if self.env is Environment.PRODUCTION:
            raise SettingsError(
                f"{variable} is required: it seals {what} "
                "(make one with 'conservancy user new-totp-key')"
            )
        derived = hmac.new(
            self.web_secret_key().encode(), b"conservancy " + purpose + b" key", hashlib.sha256
        ).digest()
        return (base64.urlsafe_b64encode(derived).decode("ascii"),)

    def require_stripe(self) -> None:
        """Production takes gifts: it refuses to start without Stripe's secret key and the
        webhook's signing secret, rather than answer Stripe's webhooks with errors. Demo and
        test may start without them (the demo sets the stand-in's); their webhook then
        answers 503 (conservancy.web.stripe.webhook)."""
        if self.env is not Environment.PRODUCTION:
            return
        if not self.stripe_secret_key:
            raise SettingsError(
                "CONSERVANCY_STRIPE_SECRET_KEY is required in production "
                "(Stripe's secret key, sk_live_... or sk_test_...)"
            )
        if not self.stripe_webhook_secret:
            raise SettingsError(
                "CONSERVANCY_STRIPE_WEBHOOK_SECRET is required in production (the signing "
                "secret, whsec_..., of the webhook endpoint at <base URL>/stripe/webhook)"
            )

    def refuse_open_bind(self, host: str) -> None:
        """Outside production, serve this machine only: a demo or test instance signs its
        sessions with a key of its own folder, runs the Stripe stand-in and shows demo
        passwords, none of which may face a network."""
        if self.env is Environment.PRODUCTION or host.strip("[]") in LOOPBACK:
            return
        raise SettingsError(
            f"CONSERVANCY_ENV={self.env} serves this machine only (127.0.0.1, ::1, "
            f"localhost), not {host!r}: use CONSERVANCY_ENV=production with a secret key"
        )


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a key


@cache
def instance_key(folder: Path) -> str:
    """A demo or test instance's own session key, made once and kept in its folder.

    Random per instance (never a key fixed in the source, which anyone could use to sign
    a session cookie for any demo), readable by its owner only, and the same for every
    process of the instance: the first to need it writes it whole, with O_EXCL, and a
    process that loses that race reads the winner's.
    """
    path = folder / SECRET_KEY_FILE
    for _ in range(2):
        try:
            key = path.read_text("ascii").strip()
        except FileNotFoundError:
            pass
        else:
            if len(key) >= 32:
                return key
            raise SettingsError(f"{path} holds no usable key: delete it to make a new one")
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".secret_key-")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.link(tmp, path)  # fails if another process made it first: read theirs
        except FileExistsError:
            pass
        finally:
            Path(tmp).unlink()
    raise SettingsError(f"{path} cannot be made")  # pragma: no cover - removed under us


def _fernet_keys(value: str | None, name: str) -> tuple[str, ...]:
    """Fernet keys (32 bytes, URL-safe base64), comma-separated, newest first."""
    if value is None:
        return ()
    keys = tuple(k.strip() for k in value.split(","))
    for n, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32 or len(key) != 44:
            # Never echoed: it is a key, or most of one.
            raise SettingsError(
                f"{name}: key {n} of {len(keys)} is not a key (44 characters "
                "of URL-safe base64; make one with 'conservancy user new-totp-key')"
            )
    return keys


def _parse(kind: type[_Choice], value: str, name: str) -> _Choice:
    try:
        return kind(value.lower())
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise SettingsError(f"{name} must be one of {choices}, not {value!r}") from None


def _absolute(path: Path) -> Path:
    """``path`` from the working directory, as the file system names it."""
    return path.resolve()


def _absolute_sqlite(url: str) -> str:
    """A SQLite URL naming its file from the working directory, made absolute."""
    parsed = make_url(url)
    database = parsed.database
    if (
        parsed.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")  # a SQLite URI (?uri=true): taken as it is
        or Path(database).is_absolute()
    ):
        return url
    return parsed.set(database=str(Path(database).resolve())).render_as_string(hide_password=False)


def _test_clock(environ: Mapping[str, str], mode: Environment) -> None:
    """The test clock's shift (conservancy.kernel.clock) is for tests only, and well formed."""
    if not environ.get(clock.SHIFT_VARIABLE, "").strip():
        return
    if mode is not Environment.TEST:
        raise SettingsError(
            f"{clock.SHIFT_VARIABLE} moves the clock for tests only: unset it "
            f"(it needs CONSERVANCY_ENV=test, not {mode.value})"
        )
    try:
        clock.shift_days(environ)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _database_url(value: str) -> str:
    scheme = value.split(":", 1)[0]
    if not value.count("://") or scheme.split("+")[0] not in {"sqlite", "postgresql"}:
        raise SettingsError("CONSERVANCY_DATABASE_URL must be a sqlite:/// or postgresql:// URL")
    try:
        make_url(value)  # a malformed port or the like fails here, not in a traceback later
    except (ArgumentError, ValueError):
        # Not echoed: the URL may hold a password.
        raise SettingsError(
            "CONSERVANCY_DATABASE_URL cannot be parsed (is the port a number?)"
        ) from None
    if scheme == "postgresql":
        # psycopg 3 is the driver we ship.
        value = "postgresql+psycopg" + value[len("postgresql") :]
    # Given, even as the default's own text, a relative SQLite file is the working directory's.
    return _absolute_sqlite(value)


def _http_url(value: str, name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError(f"{name} must be an http:// or https:// address, not {value!r}")
    return value.rstrip("/")


def _optional_http_url(value: str | None, name: str) -> str | None:
    return None if value is None else _http_url(value, name)


def _proxy_url(value: str | None) -> str | None:
    # Never echoed: the URL may hold the proxy's password.
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SettingsError("CONSERVANCY_STRIPE_PROXY must look like http://host:port")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise SettingsError("CONSERVANCY_STRIPE_PROXY has a malformed port") from None
    return value


def _smtp_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise SettingsError(f"CONSERVANCY_SMTP_URL must look like smtp://host:port, not {value!r}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise SettingsError(f"CONSERVANCY_SMTP_URL has a malformed port: {value!r}") from None
    return value


def _redis_url(value: str | None) -> str | None:
    # Never echoed: the URL may hold Redis's password.
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"redis", "rediss", "unix"} or (
        parts.scheme != "unix" and not parts.hostname
    ):
        raise SettingsError(
            "CONSERVANCY_REDIS_URL must look like redis://host:6379/0 (or rediss://, unix://)"
        )
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise SettingsError("CONSERVANCY_REDIS_URL has a malformed port") from None
    return value


def _mail_from(value: str | None) -> str | None:
    if value is None:
        return None
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() or c in "<>" for c in value):
        raise SettingsError("CONSERVANCY_MAIL_FROM must be an address like receipts@example.org")
    return value


def _timezone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: "America" names a directory of zones, not a zone.
        raise SettingsError(f"CONSERVANCY_TIMEZONE: unknown time zone {value!r}") from None


def _amount(value: str, name: str) -> Money:
    try:
        money = Money.parse(value, Currency.USD)
    except MoneyError:
        raise SettingsError(f"{name} must be an amount such as 100000.00, not {value!r}") from None
    if money.minor <= 0:
        raise SettingsError(f"{name} must be more than zero")
    return money


def _whole(
    get: Callable[[str], str | None], name: str, least: int, default: int, most: int, unit: str
) -> int:
    """CONSERVANCY_<name>: a whole number from ``least`` to ``most``, ``default`` when unset."""
    value = get(name)
    if value is None:
        return default
    number = int(value) if value.isascii() and value.isdigit() else None
    if number is None or not least <= number <= most:
        raise SettingsError(
            f"CONSERVANCY_{name} must be a whole number of {unit} from {least} to {most}, "
            f"not {value!r}"
        )
    return number


def _staff_idle_minutes(get: Callable[[str], str | None], session_hours: int) -> int:
    """CONSERVANCY_STAFF_IDLE_MINUTES: no longer than a session may last at all."""
    minutes = _whole(get, "STAFF_IDLE_MINUTES", *STAFF_IDLE_MINUTES, "minutes")
    if minutes > session_hours * 60:
        raise SettingsError(
            f"CONSERVANCY_STAFF_IDLE_MINUTES ({minutes}) must not be longer than a session "
            f"(CONSERVANCY_STAFF_SESSION_HOURS: {session_hours} h)"
        )
    return minutes


def _together(get: Callable[[str], str | None], names: tuple[str, ...]) -> list[str] | None:
    """Settings that mean something only together: all of them, or None when none is set."""
    values = [get(name) for name in names]
    if all(v is None for v in values):
        return None
    missing = [f"CONSERVANCY_{n}" for n, v in zip(names, values, strict=True) if v is None]
    if missing:
        given = ", ".join(f"CONSERVANCY_{n}" for n in names)
        raise SettingsError(f"{given} go together: {', '.join(missing)} is not set")
    return [v for v in values if v is not None]


def _wire(get: Callable[[str], str | None]) -> WireInstructions | None:
    found = _together(get, ("WIRE_BANK", "WIRE_ROUTING_NUMBER", "WIRE_ACCOUNT_NUMBER"))
    if found is None:
        return None
    bank, routing, account = found
    if not (routing.isascii() and routing.isdigit() and len(routing) == 9):
        raise SettingsError(
            "CONSERVANCY_WIRE_ROUTING_NUMBER must be the bank's nine-digit ABA number, "
            f"not {routing!r}"
        )
    swift = get("WIRE_SWIFT")
    if swift is not None and not (swift.isascii() and swift.isalnum() and len(swift) in (8, 11)):
        raise SettingsError(
            f"CONSERVANCY_WIRE_SWIFT must be an 8 or 11 character code, not {swift!r}"
        )
    return WireInstructions(bank, routing, account, swift.upper() if swift else None)


def _stock(get: Callable[[str], str | None]) -> StockInstructions | None:
    found = _together(get, ("STOCK_BROKER", "STOCK_DTC_NUMBER", "STOCK_ACCOUNT_NUMBER"))
    if found is None:
        return None
    broker, dtc, account = found
    if not (dtc.isascii() and dtc.isdigit() and len(dtc) == 4):
        raise SettingsError(
            f"CONSERVANCY_STOCK_DTC_NUMBER must be the broker's four-digit DTC number, not {dtc!r}"
        )
    return StockInstructions(broker, dtc, account)


def _bank_accounts(value: str | None) -> tuple[BankAccount, ...]:
    """CONSERVANCY_BANK_ACCOUNTS: a JSON object, each bank account's name to its details:
    ``{"Assets:Bank:Checking": {"number": "000123456789", "currency": "USD",
    "csv": {"date": "Posting Date", "date_format": "%m/%d/%Y"}}}``."""
    if value is None:
        return DEFAULT_BANK_ACCOUNTS
    name = "CONSERVANCY_BANK_ACCOUNTS"
    try:
        given = json.loads(value)
    except ValueError:
        raise SettingsError(f"{name} must be a JSON object of bank accounts") from None
    if not isinstance(given, dict) or not given:
        raise SettingsError(f"{name} must be a JSON object naming at least one bank account")
    found = []
    for account, details in given.items():
        if not _BANK_ACCOUNT.match(account):
            raise SettingsError(f"{name}: {account!r} is not a bank account (Assets:Bank:<Name>)")
        if not isinstance(details, dict) or set(details) - _BANK_KEYS:
            raise SettingsError(
                f"{name}: {account} takes an object with number, currency and csv only"
            )
        number, csv = details.get("number"), details.get("csv")
        if number is not None and (not isinstance(number, str) or not number.strip()):
            raise SettingsError(f"{name}: {account}'s number must be text")
        if csv is not None and not isinstance(csv, dict):
            raise SettingsError(f"{name}: {account}'s csv must be an object of column names")
        found.append(
            BankAccount(
                account=account,
                currency=_bank_currency(details.get("currency", "USD"), account),
                number=number.strip() if number else None,
                csv=csv,
            )
        )
    return tuple(found)


def _bank_currency(value: object, account: str) -> Currency:
    try:
        return Currency(str(value).upper())
    except ValueError:
        choices = ", ".join(c.value for c in Currency)
        raise SettingsError(
            f"CONSERVANCY_BANK_ACCOUNTS: {account}'s currency must be one of {choices}, "
            f"not {value!r}"
        ) from None
