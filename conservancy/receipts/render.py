"""Draw receipts and giving statements as PDF/A-3b files. The only importer of WeasyPrint.

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


def render_template(template: str, **context: object) -> str:
    """A document template under ``templates/`` as HTML (what a PDF is drawn from)."""
    return _ENV.get_template(template).render(**context)


def render_html(doc: ReceiptDocument) -> str:
    """The receipt as HTML (what the PDF is drawn from)."""
    return render_template(TEMPLATE, doc=doc)


def render_pdf(html: str, *, data: str, name: str, description: str, stamp: datetime) -> bytes:
    """HTML drawn as PDF/A-3b bytes, fonts embedded, with ``data`` attached as ``name``.

    ``stamp`` dates the attachment: the document's own date, not the clock's,
    so that what a document says does not depend on when it was drawn.
    """
    fetcher = DataURLFetcher()
    attachment = Attachment(
        string=data,
        name=name,
        description=description,
        created=stamp,
        modified=stamp,
        relationship="Data",
        url_fetcher=fetcher,
    )
    pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf(
        pdf_variant="pdf/a-3b",
        attachments=[attachment],
        uncompressed_pdf=False,
    )
    return pdf


def render_receipt(doc: ReceiptDocument) -> bytes:
    """The receipt as PDF/A-3b bytes, with its data attached as ``receipt.json``."""
    return render_pdf(
        render_html(doc),
        data=json.dumps(doc.data(), indent=2, sort_keys=True),
        name="receipt.json",
        description=f"{doc.title} {doc.number} (machine-readable)",
        # Dated by the receipt, not the clock, so the same receipt renders the same.
        stamp=datetime.combine(doc.issued_on, time(), tzinfo=UTC),
    )
