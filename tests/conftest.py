"""Fixtures every test may use: a migrated database (SQLite always, PostgreSQL
when CONSERVANCY_TEST_DATABASE_URL is set), settings pointing into tmp_path,
and a runtime whose books are initialised for a test sponsor.

Tests run on the *migrated* schema, never on create_all().
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache
import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import OperationalError
from werkzeug.routing import Rule

from conservancy import create_app
from conservancy import runtime as runtime_module
from conservancy.infra import db
from conservancy.infra.config import Environment, Settings
from conservancy.infra.db import migrate
from conservancy.projects.service import set_up_sponsor
from conservancy.runtime import Runtime
from conservancy.staff import passwords
from tests.courier import DeferredCourier
from tests.environment import BOOKS_OPEN_ON
from tests.saved_books import OPENED, SavedStates, recipe_for, tables_in_order

PG_URL = os.environ.get("CONSERVANCY_TEST_DATABASE_URL")


def pytest_configure(config: pytest.Config) -> None:
    """Temporary folders in memory (/dev/shm) when the machine has it and no other place was
    asked for (TMPDIR, --basetemp): every test writes a database, books and receipts there, and
    syncs them to disk, which on a shared disk costs more than the rest of the test."""
    shm = Path("/dev/shm")
    if (
        config.option.basetemp is None
        and "TMPDIR" not in os.environ
        and shm.is_dir()
        and os.access(shm, os.W_OK)
    ):
        tempfile.tempdir = str(shm)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, each test process starts with its share of the tests marked
    ``slow`` (a year, a wheel, crowds of processes: up to a minute each), so that none of
    them starts last and holds the run's end while the other processes stand idle.

    ``--dist worksteal`` first hands each process an equal run of the collection, in order
    (the first ``len // n``, then half the rest, ...), and processes run theirs from the
    front; so the slow tests are dealt out in turn to the front of each run, and the rest
    keep their order behind them."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    slow = [item for item in items if item.get_closest_marker("slow")]
    if workers < 2 or not slow:
        return
    rest = iter([item for item in items if not item.get_closest_marker("slow")])
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for share in range(workers):
        size = remaining // (workers - share)
        remaining -= size
        front = slow[share::workers]
        ordered += front + list(itertools.islice(rest, max(size - len(front), 0)))
    ordered += rest  # when the slow tests are more than their shares hold
    items[:] = ordered


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[PasswordHasher]:
    """Argon2 at its cheapest cost in tests: the production cost (64 MiB, three passes) spends
    up to a second of a busy core on each sign-in. Hashes and checks behave alike at any cost;
    `production_password_hashing` (tests/staff/test_passwords.py) puts the site's own back.
    Yields the site's hasher."""
    production = passwords._hasher
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        yield production


@pytest.fixture
def production_password_hashing(
    cheap_password_hashing: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site's own argon2 cost, for the tests of hashing itself."""
    monkeypatch.setattr(passwords, "_hasher", cheap_password_hashing)


class _SharedBytecode(jinja2.BytecodeCache):
    """Jinja's compiled templates, kept for the whole run (Jinja checks each against its
    template's source before use)."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if (code := self.stored.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.stored[bucket.key] = bucket.bytecode_to_string()


@pytest.fixture(scope="session", autouse=True)
def quick_stripe_retries() -> Iterator[None]:
    """The stripe library waits half a second and more between its retries of a call the
    stand-in fails (500, 429, a refused connection); the tests count the tries, not the
    waits, so here the waits are a hundredth of a second."""
    from stripe._http_client import HTTPClient

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HTTPClient, "INITIAL_DELAY", 0.01)
        patch.setattr(HTTPClient, "MAX_DELAY", 0.05)
        yield


@pytest.fixture(scope="session", autouse=True)
def compiled_once_per_run() -> Iterator[None]:
    """Most tests build an app of their own, and each app compiled every template it renders
    and an address builder for each of its ~90 routes: half a second of CPU per test. The
    same template source or route compiles to the same code, so it is kept for the run:
    Jinja's templates in a bytecode cache, Werkzeug's builders by everything they are made
    from (the rule, its parts, its defaults and converters, whether unknown arguments go to
    the query string), and the parts Werkzeug parses each rule into, by the rule and the
    map's converters (each rule still gets converters of its own)."""
    builders: dict[object, Callable[..., tuple[str, str]]] = {}
    compile_builder = Rule._compile_builder
    parsed: dict[object, tuple[list[Any], list[tuple[bool, str]], list[Any]]] = {}
    parse_rule = Rule._parse_rule

    def cached_parse(self: Rule, rule: str) -> Iterable[Any]:
        assert self.map is not None
        key = (rule, tuple(sorted(self.map.converters.items())))
        if (found := parsed.get(key)) is None:
            trace_from = len(self._trace)
            made: list[Any] = []
            get_converter = self.get_converter

            def recording(variable: str, name: str, args: Any, kwargs: Any) -> Any:
                made.append((variable, name, args, kwargs))
                return get_converter(variable, name, args, kwargs)

            self.get_converter = recording  # type: ignore[method-assign]
            try:
                parts = list(parse_rule(self, rule))
            finally:
                del self.get_converter
            parsed[key] = (parts, self._trace[trace_from:], made)
            return parts
        parts, trace, made = found
        for variable, name, args, kwargs in made:
            self._converters[variable] = self.get_converter(variable, name, args, kwargs)
            self.arguments.add(variable)
        self._trace.extend(trace)
        return list(parts)

    def cached_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        converters = sorted(
            (name, type(c), {k: v for k, v in vars(c).items() if k != "map"})
            for name, c in self._converters.items()
        )
        key = (
            self.rule,
            tuple(self._trace),
            repr(sorted((self.defaults or {}).items())),
            repr(converters),
            append_unknown,
        )
        if (built := builders.get(key)) is None:
            built = builders[key] = compile_builder(self, append_unknown)
        return built

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            Flask, "jinja_options", {**Flask.jinja_options, "bytecode_cache": _SharedBytecode()}
        )
        patch.setattr(Rule, "_compile_builder", cached_builder)
        patch.setattr(Rule, "_parse_rule", cached_parse)
        yield


@pytest.fixture(autouse=True)
def deferred_courier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runtimes made in the test defer their courier's and their settler's work until the
    test waits for it (tests/courier.py), unless the test is marked ``background_courier``."""
    if request.node.get_closest_marker("background_courier"):
        return
    post_init = Runtime.__post_init__

    def deferred(rt: Runtime) -> None:
        post_init(rt)
        rt.courier = DeferredCourier(rt.courier._work)
        rt.settler = DeferredCourier(rt.settler._work, name="settler")
        rt.traffic.quiet = 0.0  # the test waits in its own thread: no request to give way to

    monkeypatch.setattr(Runtime, "__post_init__", deferred)


@pytest.fixture(scope="session", autouse=True)
def statements_compiled_once_per_run() -> Iterator[None]:
    """Every test makes engines of its own (a runtime per test, on its own SQLite file or on
    the emptied PostgreSQL database), and SQLAlchemy keeps the statements it has compiled
    per engine, under its dialect: so each test compiled again every statement it ran.
    Here the engines of one kind of database share a dialect, set up by the first of them to
    connect, and one cache of compiled statements; what they connect to, their pools and
    their events stay their own. On tests/admin and tests/staff this took a third off their
    CPU time."""
    shared: dict[str, tuple[Dialect, Any]] = {}
    make_engine = db.make_engine

    def sharing(url: str) -> Engine:
        engine = make_engine(url)
        kind = f"{engine.dialect.name}+{engine.dialect.driver}"
        if kind in shared:
            engine.dialect, engine._compiled_cache = shared[kind]
            return engine
        try:
            with engine.connect():  # the dialect learns the server's version and ways
                pass
        except OperationalError:
            return engine  # nothing answers there (a test of that): it shares nothing
        shared[kind] = (engine.dialect, engine._compiled_cache)
        return engine

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db, "make_engine", sharing)
        patch.setattr(runtime_module, "make_engine", sharing)
        yield


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgresql_base_url() -> Iterator[str]:
    """A database of our own on the test server, migrated once, dropped at the end.

    Its commits do not wait for the disk (synchronous_commit=off): what one connection has
    committed, every other sees at once all the same; only a server crash could lose the tail."""
    if not PG_URL:
        pytest.skip("PostgreSQL: set CONSERVANCY_TEST_DATABASE_URL to run these on it")
    url = make_url(PG_URL).set(drivername="postgresql+psycopg")
    name = f"conservancy_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    ours = url.set(database=name).render_as_string(hide_password=False)
    migrate(ours)
    yield ours
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def empty_postgresql(postgresql_base_url: str) -> str:
    """SQL that empties every table and restarts every sequence, as a newly migrated database
    has them. DELETE rather than TRUNCATE: on tables of a few rows TRUNCATE costs a second
    (new files for each table and index, synced to disk), DELETE a hundredth of that. Tables
    are emptied referrers first, in the order their foreign keys give; no table has triggers."""
    engine = create_engine(postgresql_base_url)
    with engine.connect() as conn:
        order = reversed(tables_in_order(conn))  # referrers before what they name
    engine.dispose()
    return "; ".join(
        [f'DELETE FROM "{table}"' for table in order]
        + [
            "SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s"
            " JOIN pg_class c ON c.oid = s.seqrelid"
            " WHERE c.relnamespace = current_schema()::regnamespace"
        ]
    )


@pytest.fixture(scope="session")
def postgresql_emptier(postgresql_base_url: str) -> Iterator[Connection]:
    """One connection for the run that empties the database before each test: a new one
    each time cost ten times the emptying (a server process started, and its catalogue
    read again for every table)."""
    engine = create_engine(postgresql_base_url)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "conservancy.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgresql_base_url")
    emptier: Connection = request.getfixturevalue("postgresql_emptier")
    with emptier.begin():
        emptier.exec_driver_sql(request.getfixturevalue("empty_postgresql"))
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=database_url,
        ledger_dir=tmp_path / "ledgers",
        receipts_dir=tmp_path / "receipts",
        instance_dir=tmp_path / "instance",
        secret_key="test-secret-key-0123456789",
    )


def open_books(settings: Settings, books_open_on: date = BOOKS_OPEN_ON) -> Runtime:
    """A runtime with a test sponsor recorded and its books, opening on ``books_open_on``,
    created and posted; the caller closes it."""
    rt = Runtime.from_settings(settings)
    with rt.sessions() as session:
        set_up_sponsor(
            session,
            legal_name="Test Sponsor, Inc.",
            ein="12-3456789",
            address="1 Main Street\nBrooklyn, NY 11201",
            time_zone="America/New_York",
            books_open_on=books_open_on,
        )
        rt.ledger.create_skeleton("Test Sponsor, Inc.")
        session.commit()
    rt.post_ledger()
    rt.books.load()  # a saved snapshot, as a running site has: apps start from it
    return rt


@pytest.fixture(scope="session")
def saved_states(tmp_path_factory: pytest.TempPathFactory) -> SavedStates:
    return SavedStates(tmp_path_factory.mktemp("saved"), open_books)


@pytest.fixture
def runtime(
    settings: Settings,
    request: pytest.FixtureRequest,
    saved_states: SavedStates,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Runtime]:
    """A runtime with a test sponsor recorded and its books created and posted; or, when
    the test asks for books declared with ``tests.saved_books.saved_books``, with those.
    Either is a copy of books saved when the process first needed them (tests/saved_books)."""
    recipe = recipe_for(request) or OPENED
    for step in recipe.chain:
        if step.patch is not None:
            step.patch(monkeypatch)
    postgresql = None
    if settings.database_url.startswith("postgresql"):
        postgresql = (
            request.getfixturevalue("postgresql_emptier"),
            request.getfixturevalue("empty_postgresql"),
        )
    rt = saved_states.runtime(settings, recipe, postgresql)
    yield rt
    rt.books.wait()
    rt.close()


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    flask_app = create_app(runtime=runtime)
    flask_app.config.update(TESTING=True)
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
