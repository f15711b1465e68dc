"""Books that many tests start from, built once per test process and copied for each test.

A module whose tests all read the same books (a year of gifts, five years with two closed)
built them again for every test: over a second each time on PostgreSQL, and the most
expensive set-up in the suite. Such books are declared with :func:`saved_books`::

    @saved_books
    def books(rt: Runtime) -> None:
        factories.with_project(rt)
        ...

``books`` is then a fixture, the test's ``runtime`` with those books. The first test of the
process to ask for them builds them on a runtime fresh from ``open_books``, as before; then
its database, ledger, receipts and instance folders are saved (:class:`SavedStates`). Every
test, the first included, then gets a new runtime over a copy of them: the database rows as
they were, the folders copied beside the test's own settings, the books loaded from the
ledger. So each test still has books of its own to change, and all of them start alike.

A recipe may build on another (``after=``): the first is saved too, and the second's steps
are run on a copy of it. A test that asks for a recipe's fixture and for ``app`` or
``client`` gets one runtime: the ``runtime`` fixture looks among the test's fixtures for one
that :func:`saved_books` made, defined in the test's module or imported into it
(:func:`recipe_for`); a recipe's fixture in a conftest.py is not looked for.

Every other test's ``runtime`` starts the same way from :data:`OPENED`, the books as
``open_books`` leaves them (the test sponsor, its accounts and the ledger's files): copying
them is cheaper than making them again, most of all on PostgreSQL.

What is not saved: anything a recipe does to this process rather than to the books (a
patched clock belongs in an autouse fixture or in the recipe's ``patch``, which runs for
every test before the books are opened), and work a runtime's courier or settler was kicked
for and not yet asked to do (a recipe's runtime has them kicked once, as at a site's start;
a copy of the opened books has not, as ``open_books`` had not).
"""

from __future__ import annotations

import graphlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from conservancy.infra.config import Settings
from conservancy.runtime import Runtime
from tests.environment import BOOKS_OPEN_ON

Build = Callable[[Runtime], object]
PostgreSQL = tuple[Connection, str]  # a connection to the test database, and its emptying SQL
Patch = Callable[[pytest.MonkeyPatch], None]


@dataclass(frozen=True)
class Recipe:
    name: str  # the fixture's
    module: str  # where it is defined
    build: Build
    after: Recipe | None = None
    books_open_on: date = BOOKS_OPEN_ON
    patch: Patch | None = None

    @property
    def key(self) -> str:
        return f"{self.module}.{self.name}"

    @property
    def chain(self) -> list[Recipe]:
        """This recipe and those it builds on, the first first."""
        return [*(self.after.chain if self.after else []), self]

    @property
    def first(self) -> Recipe:
        return self.chain[0]


def _as_opened(rt: Runtime) -> None:
    """Nothing more: the books as ``open_books`` leaves them."""


# What every other test starts from: the test sponsor, its books created and posted.
OPENED = Recipe(name="opened", module=__name__, build=_as_opened)

_DECLARED: dict[int, Recipe] = {}  # by the fixture saved_books made


def saved_books(
    build: Build | None = None,
    *,
    after: Callable[..., object] | None = None,
    books_open_on: date = BOOKS_OPEN_ON,
    patch: Patch | None = None,
) -> object:
    """Declare ``build``'s books as a fixture of its name (see the module's docstring).

    ``after`` is another such fixture whose books ``build`` starts from; ``books_open_on``
    the books' opening day (the first recipe's); ``patch`` what every test asking for these
    books needs patched before they are opened (and keeps for the test)."""

    def declare(build: Build) -> object:
        base = _DECLARED[id(after)] if after is not None else None
        recipe = Recipe(
            name=build.__name__,
            module=build.__module__,
            build=build,
            after=base,
            books_open_on=base.first.books_open_on if base else books_open_on,
            patch=patch,
        )

        def fixture(runtime: Runtime) -> Runtime:
            return runtime

        fixture.__name__ = fixture.__qualname__ = recipe.name
        fixture.__doc__ = build.__doc__
        declared = pytest.fixture(name=recipe.name)(fixture)
        _DECLARED[id(declared)] = recipe
        return declared

    return declare(build) if build is not None else declare


def recipe_for(request: pytest.FixtureRequest) -> Recipe | None:
    """The recipe whose books the test asked for, the one built furthest if several.
    A recipe's fixture is found in the test's module, defined or imported there."""
    module = request.node.module
    asked = [
        _DECLARED[id(found)]
        for name in request.fixturenames
        if (found := getattr(module, name, None)) is not None and id(found) in _DECLARED
    ]
    if not asked:
        return None
    furthest = max(asked, key=lambda recipe: len(recipe.chain))
    assert all(recipe in furthest.chain for recipe in asked), (
        f"a test asks for books of two recipes that do not build on each other: {asked}"
    )
    return furthest


FOLDERS = ("ledger_dir", "receipts_dir", "instance_dir")


@dataclass(frozen=True)
class Saved:
    folder: Path  # the settings' folders, and a SQLite database's file
    restore: str | None  # on PostgreSQL: SQL that puts the rows and sequences back


@dataclass
class SavedStates:
    """The saved books of one test process, by recipe and database kind.

    A SQLite database is saved as a copy of its file; a PostgreSQL one in a schema of its
    own in the process's test database (``saved_<n>``), each table's rows and each
    sequence's place, put back after the tables are emptied."""

    root: Path
    open_books: Callable[[Settings, date], Runtime]
    _saved: dict[tuple[str, str], Saved] = field(default_factory=dict)

    def runtime(self, settings: Settings, recipe: Recipe, postgresql: PostgreSQL | None) -> Runtime:
        """A new runtime over a copy of ``recipe``'s books, built first if need be.
        ``postgresql``: the test database's connection and its emptying SQL, when the
        settings are on PostgreSQL."""
        key = (recipe.key, "sqlite" if postgresql is None else "postgresql")
        if key not in self._saved:
            if recipe.after is None:
                rt = self.open_books(settings, recipe.books_open_on)
            else:
                rt = self.runtime(settings, recipe.after, postgresql)
            try:
                recipe.build(rt)
                rt.books.wait()
            finally:
                rt.close()
            self._saved[key] = self._save(settings, postgresql)
        return self._restore(settings, self._saved[key], postgresql, recipe)

    def _save(self, settings: Settings, postgresql: PostgreSQL | None) -> Saved:
        number = len(self._saved)
        folder = self.root / str(number)
        folder.mkdir(parents=True)
        for name in FOLDERS:
            if getattr(settings, name).exists():
                shutil.copytree(getattr(settings, name), folder / name, symlinks=True)
        if postgresql is None:
            shutil.copy2(_sqlite_path(settings), folder / "database.db")
            return Saved(folder, None)
        schema = f"saved_{number}"
        conn, empty = postgresql
        with conn.begin():
            tables = _tables_with_rows(conn)
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            for table in tables:
                conn.execute(text(f'CREATE TABLE "{schema}"."{table}" AS TABLE "{table}"'))
            places = conn.execute(
                text(
                    "SELECT sequencename, last_value FROM pg_sequences"
                    " WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                )
            ).all()
        restore = [empty]
        restore += [
            f'INSERT INTO "{table}" OVERRIDING SYSTEM VALUE SELECT * FROM "{schema}"."{table}"'
            for table in tables
        ]
        restore += [f"SELECT setval('\"{name}\"', {value}, true)" for name, value in places]
        return Saved(folder, "; ".join(restore))

    def _restore(
        self, settings: Settings, saved: Saved, postgresql: PostgreSQL | None, recipe: Recipe
    ) -> Runtime:
        for name in FOLDERS:
            mine: Path = getattr(settings, name)
            if mine.exists():
                shutil.rmtree(mine)
            if (saved.folder / name).exists():
                shutil.copytree(saved.folder / name, mine, symlinks=True)
        if postgresql is None:
            database = _sqlite_path(settings)
            for suffix in ("-wal", "-shm", "-journal"):
                database.with_name(database.name + suffix).unlink(missing_ok=True)
            shutil.copy2(saved.folder / "database.db", database)
        else:
            assert saved.restore is not None
            conn, _ = postgresql
            with conn.begin():
                conn.exec_driver_sql(saved.restore)
        rt = Runtime.from_settings(settings)
        rt.books.load()
        if recipe is not OPENED:
            # As at a site's start: whatever the books left to do is there to be done.
            rt.courier.kick()
            rt.settler.kick()
        return rt


def _sqlite_path(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def tables_in_order(conn: Connection) -> list[str]:
    """The test database's tables (but Alembic's), each after the tables its foreign keys
    name: the order to fill them in; emptied, it goes the other way."""
    tables = conn.scalars(
        text(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r'"
            " AND c.relnamespace = current_schema()::regnamespace"
            " AND c.relname <> 'alembic_version'"
        )
    ).all()
    referred = conn.execute(
        text(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid <> confrelid"
            " AND connamespace = current_schema()::regnamespace"
        )
    ).all()
    graph: dict[str, set[str]] = {table: set() for table in tables}
    for referrer, table in referred:
        graph[referrer.strip('"')].add(table.strip('"'))
    return list(graphlib.TopologicalSorter(graph).static_order())


def _tables_with_rows(conn: Connection) -> list[str]:
    """The tables holding rows, each after the tables its foreign keys name."""
    return [
        table
        for table in tables_in_order(conn)
        if conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{table}")')).scalar()
    ]
