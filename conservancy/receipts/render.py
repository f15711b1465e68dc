"""Render a :class:`ReceiptDocument` to a PDF/A-3b file. The only importer of WeasyPrint.

The template is trusted, the data is not (a donor types their own name), so
Jinja autoescapes and the URL fetcher refuses everything but ``data:`` URLs:
an ``<img src="file:///etc/passwd">`` that slipped into a field must never be
read from disk or fetched from the network (as Indico's receipts do).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from weasyprint import HTML, Attachment  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

from conservancy.receipts.document import ReceiptDocument, long_date

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
TEMPLATE = "receipts/receipt.html"


class DataURLFetcher(URLFetcher):  # type: ignore[misc]
    """Fetches ``data:`` URLs only; every other URL is refused with ValueError."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data",), allow_redirects=False)

    def fetch(self, url: str, headers: Any = None) -> Any:
        if not url.lower().startswith("data:"):
            raise ValueError(f"receipts load no outside resources: {url[:80]!r}")
        return super().fetch(url, headers)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["long_date"] = long_date
    return env


_ENV = _environment()


def render_html(doc: ReceiptDocument) -> str:
    """The receipt as HTML (what the PDF is drawn from)."""
    return _ENV.get_template(TEMPLATE).render(doc=doc)


def render_receipt(doc: ReceiptDocument) -> bytes:
    """The receipt as PDF/A-3b bytes, with its data attached as ``receipt.json``."""
    fetcher = DataURLFetcher()
    # Dated by the receipt, not the clock, so the same receipt renders the same.
    stamp = datetime.combine(doc.issued_on, time(), tzinfo=UTC)
    attachment = Attachment(
        string=json.dumps(doc.data(), indent=2, sort_keys=True),
        name="receipt.json",
        description=f"{doc.title} {doc.number} (machine-readable)",
        created=stamp,
        modified=stamp,
        relationship="Data",
        url_fetcher=fetcher,
    )
    html = HTML(string=render_html(doc), url_fetcher=fetcher)
    pdf: bytes = html.write_pdf(
        pdf_variant="pdf/a-3b",
        attachments=[attachment],
        uncompressed_pdf=False,
    )
    return pdf
