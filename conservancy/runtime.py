"""What one process needs to reach the database and the books, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from conservancy.config import Settings
from conservancy.db import make_engine, make_sessions
from conservancy.ledger.books import Books
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.outbox import PostResult, post_pending


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    ledger: LedgerFiles
    books: Books

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        ledger = LedgerFiles(settings.ledger_dir)
        return cls(settings, engine, make_sessions(engine), ledger, Books(ledger))

    def post_ledger(self) -> PostResult:
        """Append whatever the outbox holds; call after each commit that recorded entries."""
        return post_pending(self.sessions, self.ledger)

    def close(self) -> None:
        self.engine.dispose()
