"""Report files appear whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_whole(target: Path, content: bytes) -> Path:
    """``content`` into ``target``: written and synced under a temporary name beside it,
    then renamed over it, so a reader (or a crash) never sees half a file."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("xb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
