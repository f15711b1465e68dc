"""What one process needs to reach the database, the books and Stripe, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from conservancy.config import Settings, SettingsError
from conservancy.db import make_engine, make_sessions
from conservancy.ledger.books import Books
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.outbox import PostResult, post_pending
from conservancy.payments.gateway import Gateway


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    ledger: LedgerFiles
    books: Books
    _gateway: Gateway | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        ledger = LedgerFiles(settings.ledger_dir)
        return cls(settings, engine, make_sessions(engine), ledger, Books(ledger))

    @property
    def gateway(self) -> Gateway:
        """The payment gateway; built on first use, so pages that take no money need no keys."""
        if self._gateway is None:
            key = self.settings.stripe_secret_key
            secret = self.settings.stripe_webhook_secret
            if not key:
                raise SettingsError("CONSERVANCY_STRIPE_SECRET_KEY is required to take gifts")
            if not secret:
                raise SettingsError("CONSERVANCY_STRIPE_WEBHOOK_SECRET is required to take gifts")
            from conservancy.payments.stripe_gateway import StripeGateway

            self._gateway = StripeGateway(key, secret, self.settings.stripe_api_base)
        return self._gateway

    def post_ledger(self) -> PostResult:
        """Append whatever the outbox holds; call after each commit that recorded entries."""
        return post_pending(self.sessions, self.ledger)

    def close(self) -> None:
        self.engine.dispose()
