"""What background work needs of the process it runs in: the protocol the runtime meets.

The runtime (``conservancy/runtime.py``) builds the process's database, books, courier
and jobs, and drives jobs and sweeps with itself as their ``Host``. Jobs and the sweep
reach back through this protocol, never by importing the runtime, so the arrows point
one way: runtime -> background -> domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from conservancy.background.courier import Courier
from conservancy.infra.config import Settings
from conservancy.ledger.outbox import PostResult
from conservancy.payments.inbox import Settled


@dataclass(frozen=True)
class Delivery:
    rendered: int
    render_failed: int
    sent: int
    retry_later: int
    send_failed: int

    @property
    def busy(self) -> bool:
        """True when a pass did something: there may be more."""
        return bool(self.rendered or self.sent)


class Host(Protocol):
    """A process's runtime, as jobs and sweeps use it (``conservancy.runtime.Runtime``)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    courier: Courier
    settler: Courier

    def post_ledger(self) -> PostResult:
        """Append whatever the ledger outbox holds."""
        ...

    def settle_all(self) -> Settled:
        """Settle the Stripe events that are due, batch after batch; post; start delivery."""
        ...

    def deliver(self, pause: Callable[[], None] | None = None) -> Delivery:
        """Draw the documents that have no PDF yet, then send the mail that is due."""
        ...
