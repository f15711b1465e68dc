"""Draw receipts and giving statements as tagged PDF/A-3a files. The only importer of WeasyPrint.

The template is trusted, the data is not (a donor types their own name), so
Jinja autoescapes and the URL fetcher refuses everything but ``data:`` URLs:
an ``<img src="file:///etc/passwd">`` that slipped into a field must never be
read from disk or fetched from the network (as Indico's receipts do).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.context
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime, time
from functools import partial
from io import BytesIO
from typing import TYPE_CHECKING, Any, BinaryIO

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from weasyprint import HTML, Attachment  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

from conservancy.infra import resources
from conservancy.receipts.document import ReceiptDocument, long_date

if TYPE_CHECKING:
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import IndirectObject

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
    """One HTML document drawn as tagged PDF/A-3a, nothing fetched (a worker's job for long
    documents)."""
    pdf: bytes = HTML(string=html, url_fetcher=DataURLFetcher()).write_pdf(
        pdf_variant="pdf/a-3a", uncompressed_pdf=False
    )
    return pdf


def render_pdf_in_parts(parts: Sequence[Part], out: BinaryIO, *, jobs: int = 1) -> int:
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
    from pypdf import PdfReader

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
    join_tagged(readers).write(out)
    return sum(len(reader.pages) for reader in readers)


def join_tagged(readers: Sequence[PdfReader]) -> PdfWriter:
    """The parts' pages as one tagged PDF/A-3a: each part's structure tree under one Document.

    Pages and their annotations are copied by pypdf; the structure elements, the parent tree
    that leads from a page's marked content back to them, and the pages' keys into it are
    joined here, renumbered part after part, since pypdf drops them. The catalog's PDF/A
    entries (XMP metadata, output intent, language) and the document information are the
    first part's: every part is drawn with the same title and author.
    """
    from pypdf import PdfWriter
    from pypdf.generic import (
        ArrayObject,
        ByteStringObject,
        DictionaryObject,
        NameObject,
        NumberObject,
    )

    writer = PdfWriter()
    root = DictionaryObject({NameObject("/Type"): NameObject("/StructTreeRoot")})
    root_ref = writer._add_object(root)
    document = DictionaryObject(
        {NameObject("/Type"): NameObject("/StructElem"), NameObject("/S"): NameObject("/Document")}
    )
    document_ref = writer._add_object(document)
    kids, nums, offset = ArrayObject(), ArrayObject(), 0
    document[NameObject("/K")] = kids
    for n, reader in enumerate(readers):
        start = len(writer.pages)
        writer.append(reader, import_outline=False)
        copy = _StructureCopy(writer, document_ref, prefix=f"part{n}-")
        part: Any = reader.trailer["/Root"]
        tree = part["/StructTreeRoot"]
        for top in _kids(tree["/K"]):
            # WeasyPrint's tree is one Document element: its children become the joined one's.
            for kid in _kids(top.get_object()["/K"]) if _is_document(top) else [top]:
                kids.append(copy.element(kid, document_ref))
        keys = []
        for key, value in _number_tree(tree["/ParentTree"].get_object()):
            keys.append(int(key))
            value = value.get_object()
            entry = (
                ArrayObject(copy.element_ref(v) for v in value)
                if isinstance(value, list)
                else copy.element_ref(value)
            )
            nums.extend([NumberObject(int(key) + offset), entry])
        src: Any
        for src, dst in zip(reader.pages, writer.pages[start:], strict=True):
            if "/StructParents" in src:
                key = int(src["/StructParents"]) + offset
                dst[NameObject("/StructParents")] = NumberObject(key)
            for ref in dst.get("/Annots", ()):
                annot: Any = ref.get_object()
                if "/StructParent" in annot:
                    annot[NameObject("/StructParent")] = NumberObject(
                        int(annot["/StructParent"]) + offset
                    )
        offset += max(keys, default=-1) + 1
    document[NameObject("/P")] = root_ref
    root[NameObject("/K")] = document_ref
    root[NameObject("/ParentTree")] = writer._add_object(
        DictionaryObject({NameObject("/Nums"): nums})
    )
    root[NameObject("/ParentTreeNextKey")] = NumberObject(offset)
    first: Any = readers[0].trailer["/Root"]
    catalog = writer._root_object
    catalog[NameObject("/StructTreeRoot")] = root_ref
    for key in ("/MarkInfo", "/Lang", "/ViewerPreferences", "/OutputIntents", "/Metadata"):
        if key in first:
            catalog[NameObject(key)] = first.raw_get(key).clone(writer)
    if readers[0].metadata is not None:
        writer.add_metadata(dict(readers[0].metadata))  # as the XMP says, as PDF/A asks
    # Named by its parts, so that the same parts make the same file.
    parts = hashlib.blake2b(digest_size=16)
    for reader in readers:
        ids: Any = reader.trailer["/ID"]
        parts.update(repr(ids[0]).encode())
    digest = ByteStringObject(parts.digest())
    writer._ID = ArrayObject([digest, digest])
    return writer


class _StructureCopy:
    """Copies a part's structure elements into ``writer``, each once, pointing at the copied
    pages and annotations. The ids by which table cells name their headers get ``prefix``,
    which keeps them apart from another part's."""

    def __init__(self, writer: PdfWriter, document: IndirectObject, *, prefix: str) -> None:
        self.writer, self.document, self.prefix = writer, document, prefix
        self.copied: dict[int, IndirectObject] = {}

    def element_ref(self, ref: Any) -> IndirectObject:
        """The copy of an element the parent tree names: copied with the tree, or, for one
        its parent does not list among its children, copied now, and still not listed.

        WeasyPrint tags what the page margins hold (the page numbers) so, on purpose: the
        tags name it, and a screen reader, which follows the tree, does not read it out on
        every page (WeasyPrint issue 1836; PDF 2.0 would mark it as an artifact)."""
        ref = ref.indirect_reference
        if ref.idnum not in self.copied:
            above = ref.get_object().get("/P")
            parent = self.copied.get(above.indirect_reference.idnum) if above else None
            self.element(ref, parent or self.document)
        return self.copied[ref.idnum]

    def element(self, ref: Any, parent: IndirectObject) -> Any:
        from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

        source = ref.get_object()
        if not isinstance(source, DictionaryObject):
            return source  # a marked-content id: the number on the page, unchanged
        if source.get("/Type") in ("/MCR", "/OBJR"):
            # Marked content on, or an annotation of, a page pypdf has copied already.
            copy = DictionaryObject()
            for key, value in source.items():
                copy[NameObject(key)] = value.clone(self.writer)
            return copy
        element = DictionaryObject()
        copied = self.writer._add_object(element)
        if ref.indirect_reference is not None:
            self.copied[ref.indirect_reference.idnum] = copied
        for key, value in source.items():
            if key in ("/P", "/K"):
                continue
            if key == "/ID":
                element[NameObject(key)] = TextStringObject(self.prefix + str(value))
            elif key == "/A":
                element[NameObject(key)] = self._attributes(value.get_object())
            else:
                element[NameObject(key)] = value.clone(self.writer)  # /Pg: the copied page
        element[NameObject("/P")] = parent
        if "/K" in source:
            element[NameObject("/K")] = ArrayObject(
                self.element(kid, copied) for kid in _kids(source["/K"])
            )
        return copied

    def _attributes(self, attributes: Any) -> Any:
        from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

        if isinstance(attributes, list):
            return ArrayObject(self._attributes(a.get_object()) for a in attributes)
        copy: Any = attributes.clone(self.writer)
        if isinstance(copy, DictionaryObject) and "/Headers" in copy:
            headers: Any = copy["/Headers"]
            copy[NameObject("/Headers")] = ArrayObject(
                TextStringObject(self.prefix + str(h)) for h in headers
            )
        return copy


def _kids(k: Any) -> list[Any]:
    k = k.get_object() if hasattr(k, "get_object") else k
    return list(k) if isinstance(k, list) else [k]


def _is_document(ref: Any) -> bool:
    element = ref.get_object()
    return isinstance(element, dict) and element.get("/S") == "/Document" and "/K" in element


def _number_tree(node: Any) -> Iterator[tuple[Any, Any]]:
    """A number tree's keys and values, in order (PDF 32000-1 section 7.9.7)."""
    node = node.get_object()
    nums = node.get("/Nums", [])
    for i in range(0, len(nums), 2):
        yield nums[i], nums[i + 1]
    for kid in node.get("/Kids", []):
        yield from _number_tree(kid)


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
