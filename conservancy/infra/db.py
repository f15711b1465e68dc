"""The database layer: declarative base, naming convention, engines, sessions, migrations."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Enum, Integer, MetaData, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

# Constraint names are part of the schema: migrations refer to them by name,
# so they must not depend on what a database happens to generate.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def str_enum(kind: type[StrEnum], name: str) -> Enum:
    """A column of ``kind``'s values stored as text (no database enum type, so a new
    value needs no migration), as every status and kind column here is."""
    return Enum(
        kind,
        name=name,
        native_enum=False,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )


class YearCounter:
    """The columns of a per-year counter of numbered documents (see
    conservancy.kernel.numbering)."""

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer)


def make_engine(url: str) -> Engine:
    """The engine for ``url``: the only way the app (web, CLI, jobs, migrations) makes one.

    Its errors never carry the values of a statement: ``hide_parameters`` keeps the bound
    parameters (a donor's name, e-mail and address) out of exception messages and of the
    engine's log, and :func:`_quote_no_values` does the same for PostgreSQL's own words.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _serialise_sqlite_writers(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
    _quote_no_values(engine)
    return engine


def _quote_no_values(engine: Engine) -> None:
    """A database error keeps only the database's first line.

    PostgreSQL follows it with lines that quote the row: ``DETAIL: Key (email)=(ada@…)
    already exists``, ``Failing row contains (…, Ada Lovelace, …)``. The first line names
    the constraint or the problem, which is what a log reader needs; code that needs more
    reads the driver's exception (``exc.orig.diag``), which keeps it all. A commit's error
    (a deferred constraint) quotes the row too, so every error is cut, not only a
    statement's; a failed connection's first line says where and why.
    """

    @event.listens_for(engine, "handle_error")
    def _first_line_only(context: ExceptionContext) -> None:
        for exc in (context.original_exception, context.sqlalchemy_exception):
            if exc is not None and len(exc.args) == 1 and isinstance(exc.args[0], str):
                exc.args = (exc.args[0].split("\n", 1)[0],)


def _serialise_sqlite_writers(engine: Engine) -> None:
    """SQLite: every transaction takes the write lock when it begins.

    pysqlite's default (a deferred BEGIN) lets two processes both read and then
    fail to upgrade to a write lock. BEGIN IMMEDIATE makes the second one wait
    (up to the 30 s busy timeout) instead, which is what a small embedded
    installation wants. PostgreSQL needs none of this.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    from conservancy.infra import resources

    config = Config()
    config.set_main_option("script_location", str(resources.migrations()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the database to the newest schema."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")
