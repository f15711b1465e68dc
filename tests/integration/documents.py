"""Reading what the site hands out, as its users' own tools would: PDFs (their text and the
data they carry, with pypdf), CSV files, zips, images; and the books, with Beancount."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from beancount import loader
from beancount.core import data
from PIL import Image
from pypdf import PdfReader

from tests.receipts.pdfs import pdf_text

__all__ = [
    "attached",
    "csv_rows",
    "dollars",
    "fund_balances",
    "gifts_income",
    "image_size",
    "pdf_text",
    "zip_files",
]


def attached(pdf: bytes, name: str) -> dict[str, Any]:
    """The JSON file ``name`` a PDF carries (receipts carry ``receipt.json``, annual
    statements ``statement.json``)."""
    files = PdfReader(io.BytesIO(pdf)).attachments
    assert name in files, f"the PDF carries {sorted(files)}, not {name}"
    found: dict[str, Any] = json.loads(files[name][0])
    return found


def csv_rows(text: str | bytes) -> list[dict[str, str]]:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def zip_files(body: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def image_size(body: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(body)) as image:
        image.verify()
        size: tuple[int, int] = image.size
        return size


def dollars(text: str) -> Decimal:
    """``$1,234.56`` (or ``1234.56``, or ``-$5.00``) as a Decimal."""
    cleaned = text.strip().replace("$", "").replace(",", "")
    return Decimal(cleaned)


def fund_balances(root: Path, through: date) -> dict[str, Decimal]:
    """Each fund's balance at the end of ``through`` in the books rooted at ``root``: minus
    the sum of its postings to Income:<Fund>:*, Expenses:<Fund>:* and
    Equity:Net-Assets:<Fund> (SPEC section 6). The books must load without errors."""
    entries, errors, _options = loader.load_file(str(root))
    assert not errors, f"{root} does not load: {[str(e.message) for e in errors][:5]}"
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        if not isinstance(entry, data.Transaction) or entry.date > through:
            continue
        for posting in entry.postings:
            parts = posting.account.split(":")
            fund = None
            if parts[0] in ("Income", "Expenses"):
                fund = parts[1]
            elif parts[:2] == ["Equity", "Net-Assets"] and len(parts) == 3:
                fund = parts[2]
            if fund is None:
                continue
            assert posting.units is not None
            assert posting.units.currency == "USD", posting
            assert posting.units.number is not None
            sums[fund] -= posting.units.number
    return dict(sums)


def gifts_income(root: Path) -> dict[str, Decimal]:
    """What stands of each gift as income in the books rooted at ``root``: its entry's
    postings to Income:<Fund>:Donations and those of the entries that reverse it (which name
    it in their ``gift`` metadata), as a positive amount."""
    entries, errors, _options = loader.load_file(str(root))
    assert not errors, f"{root} does not load: {[str(e.message) for e in errors][:5]}"
    stands: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        if not isinstance(entry, data.Transaction) or "entity" not in entry.meta:
            continue
        gift = str(entry.meta.get("gift", entry.meta.get("ref")))
        for posting in entry.postings:
            if posting.account.startswith("Income:") and posting.account.endswith(":Donations"):
                assert posting.units is not None
                assert posting.units.number is not None
                stands[gift] -= posting.units.number
    return dict(stands)
