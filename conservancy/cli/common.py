from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from conservancy.infra.config import Settings
from conservancy.runtime import Runtime


@contextmanager
def open_runtime(settings: Settings | None = None) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(settings or Settings.from_env())
    try:
        yield runtime
    finally:
        runtime.close()
