"""Staff tests: Twisted and a second project, and a clock that can be moved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from conservancy.kernel import clock
from conservancy.runtime import Runtime
from tests.factories import with_project


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    """The test runtime with two projects: Twisted and Sugar Labs."""
    return with_project(with_project(runtime), "sugar", "Sugar Labs")


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], None]:
    """Move the application's clock forward by a given time (each call adds to the last)."""

    def move(by: timedelta) -> None:
        moved = clock.now() + by
        monkeypatch.setattr(clock, "now", lambda: moved)

    return move
