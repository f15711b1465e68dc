"""Alembic environment. The URL comes from the config conservancy builds
(``conservancy.infra.db.alembic_config``) or, for the alembic command itself, from
``CONSERVANCY_DATABASE_URL``."""

from __future__ import annotations

from alembic import context

from conservancy.infra.config import Settings
from conservancy.infra.db import make_engine
from conservancy.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
