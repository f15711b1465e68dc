"""Draw receipts and giving statements as tagged PDF/A-3a files. The only importer of WeasyPrint.

The template is trusted, the data is not (a donor types their own name), so
Jinja autoescapes and the URL fetcher refuses everything but ``data:`` URLs:
an ``<img src="file:///etc/passwd">`` that slipped into a field must never be
read from disk or fetched from the network (as Indico's receipts do).
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.context
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime, time
from functools import partial
from io import BytesIO
from typing import Any, BinaryIO

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from weasyprint import HTML, Attachment  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

from conservancy.infra import resources
from conservancy.receipts.document import ReceiptDocument, long_date

TEMPLATE = "documents/receipts/receipt.html"


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
        loader=FileSystemLoader(resources.templates()),
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
    """HTML drawn as PDF/A-3a bytes, fonts embedded, with ``data`` attached as ``name``.

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
        # PDF/A-3a: PDF/A-3b plus tags (a structure tree), so screen readers can read it.
        pdf_variant="pdf/a-3a",
        attachments=[attachment],
        uncompressed_pdf=False,
    )
    return pdf


def render_receipt(doc: ReceiptDocument) -> bytes:
    """The receipt as PDF/A-3a bytes, with its data attached as ``receipt.json``."""
    return render_pdf(
        render_html(doc),
        data=json.dumps(doc.data(), indent=2, sort_keys=True),
        name="receipt.json",
        description=f"{doc.title} {doc.number} (machine-readable)",
        # Dated by the receipt, not the clock, so the same receipt renders the same.
        stamp=datetime.combine(doc.issued_on, time(), tzinfo=UTC),
    )


# A part of a long document: the pages it is expected to take, and its HTML
# given the number of its first page, the document's page count, and whether
# the pages are known to come out as expected (so that each may print its own
# number) or must be numbered by CSS page counters.
Part = tuple[int, Callable[[int, int, bool], str]]


def draw_pdf(html: str) -> bytes:
    """One HTML document drawn as PDF, nothing fetched (a worker's job for long documents)."""
    pdf: bytes = HTML(string=html, url_fetcher=DataURLFetcher()).write_pdf()
    return pdf


def render_pdf_in_parts(
    parts: Sequence[Part], out: BinaryIO, *, title: str, author: str, jobs: int = 1
) -> int:
    """Draw each part as its own WeasyPrint document and join their pages; the page count.

    WeasyPrint's time and memory grow faster than linearly with one long table
    (41 s and 1.3 GB for a 103-page one), so a long document is drawn a few
    pages at a time, each part's HTML made only when it is due, and with
    ``jobs`` > 1 in that many worker processes. The pages each part is expected
    to take number the pages before anything is drawn, so every page can say
    "page 7 of 100"; should a part take other than its expected pages, the
    parts are drawn again, one after the other, with the real page count and
    numbered by CSS page counters.
    """
    from pypdf import PdfReader, PdfWriter

    expected = [pages for pages, _ in parts]
    firsts = [1 + sum(expected[:i]) for i in range(len(parts))]
    total = sum(expected)
    drawn = _draw_all(
        [partial(make, first, total, True) for (_, make), first in zip(parts, firsts, strict=True)],
        jobs,
    )
    readers = [PdfReader(BytesIO(pdf)) for pdf in drawn]
    actual = [len(reader.pages) for reader in readers]
    if actual != expected:
        # Numbered from what each part really took; their lengths do not depend on it.
        total, readers, first = sum(actual), [], 1
        for (_, make), pages in zip(parts, actual, strict=True):
            readers.append(PdfReader(BytesIO(draw_pdf(make(first, total, False)))))
            first += pages
    writer = PdfWriter()
    for reader in readers:
        writer.append(reader)
    writer.add_metadata({"/Title": title, "/Author": author, "/Producer": "conservancy"})
    writer.write(out)
    return sum(len(reader.pages) for reader in readers)


def _draw_all(makers: Sequence[Callable[[], str]], jobs: int) -> list[bytes]:
    if jobs <= 1 or len(makers) <= 1:
        return [draw_pdf(make()) for make in makers]
    with ProcessPoolExecutor(
        min(jobs, len(makers)), mp_context=_pool_context(), initializer=_worker_start
    ) as pool:
        # The HTML of a part is made when it is sent: at most two per worker wait.
        futures: list[Future[bytes]] = []
        for make in makers:
            while sum(not f.done() for f in futures) >= 2 * jobs:
                wait([f for f in futures if not f.done()], return_when=FIRST_COMPLETED)
            futures.append(pool.submit(draw_pdf, make()))
        return [future.result() for future in futures]


def _worker_start() -> None:
    # Ctrl-C is the parent's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool_context() -> multiprocessing.context.BaseContext:
    """Workers forked from a clean server that has WeasyPrint loaded already.

    Not plain fork: the parent may hold database connections and threads, which
    a forked child must not inherit.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["conservancy.receipts.render"])
    return context
