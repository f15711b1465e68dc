"""``python -m conservancy.ledger.rebuild LEDGER_DIR``: build the books' snapshot and save it.

Web workers run this as a child process (see ``ledger.books``), so that the
full load's memory and pauses stay out of the process serving pages. Children
started by several workers take turns under ``.cache/rebuild.lock``; one that
finds a snapshot already fitting the files, built while it waited, stops there.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

from conservancy.ledger import snapshot as snap
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.years import CloseInterrupted


def rebuild(files: LedgerFiles) -> bool:
    """Build and save unless a fitting snapshot exists. True if this call built one."""
    files.cache_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(files.cache_dir / "rebuild.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if snap.load_saved(files) is not None:
            return False
        snap.save(files, snap.build(files))
        return True
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m conservancy.ledger.rebuild LEDGER_DIR", file=sys.stderr)
        return 2
    try:
        rebuild(LedgerFiles(Path(argv[0])))
    except CloseInterrupted as exc:  # the worker keeps its snapshot; say why in one line
        print(f"not rebuilt: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
