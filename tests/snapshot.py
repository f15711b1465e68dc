"""Everything a request could have written: each table's rows and the books' files.

Compare one taken before a refused request with one taken after: nothing may differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from conservancy.infra.db import Base
from conservancy.runtime import Runtime


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, int]
    books: dict[str, bytes]


def snapshot(rt: Runtime) -> Snapshot:
    with rt.sessions() as session:
        rows = {
            table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }
    root = Path(rt.ledger.root)
    books = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.beancount"))}
    return Snapshot(rows, books)
