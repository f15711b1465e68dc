"""Reading receipt PDFs in tests, and skipping when WeasyPrint cannot load."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from pypdf import PdfReader


def _weasyprint_problem() -> str | None:
    try:
        import weasyprint  # noqa: F401
    except OSError as exc:  # pango missing: `make test` installs it where it may (root, apt)
        return f"WeasyPrint cannot load its system libraries: {exc}"
    return None


WEASYPRINT_PROBLEM = _weasyprint_problem()
requires_weasyprint = pytest.mark.skipif(
    WEASYPRINT_PROBLEM is not None, reason=WEASYPRINT_PROBLEM or ""
)


def pdf_text(pdf: bytes) -> str:
    """A PDF's text as one line, words separated by single spaces."""
    reader = PdfReader(BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def tagged_pdf_a_problems(pdf: bytes) -> list[str]:
    """What keeps a PDF from being the tagged PDF/A-3a a screen reader can use; empty if
    nothing does.

    PDF/A-3a's marks (the XMP's part and conformance, the catalog's MarkInfo and language, the
    trailer's id), and a structure tree that holds together:
    - every element in the tree names the element it hangs from as its parent;
    - every page has its own key into the parent tree, and text in the tree;
    - every marked-content id a page's content uses leads to an element on that page whose
      parents lead up to the tree's root. (The root need not list it: WeasyPrint leaves what
      the page margins hold, the page numbers, out of the reading order on purpose.)
    """
    import re

    reader = PdfReader(BytesIO(pdf))
    problems = []
    xmp = reader.xmp_metadata
    raw = xmp.stream.get_data().decode() if xmp is not None else ""
    if not re.search(r"pdfaid:part(>|=[\"'])3", raw):
        problems.append("the XMP does not say PDF/A-3")
    if not re.search(r"pdfaid:conformance(>|=[\"'])A", raw):
        problems.append("the XMP does not say conformance A (accessible)")
    catalog = reader.trailer["/Root"]
    mark_info = catalog.get("/MarkInfo")
    marked = mark_info.get_object().get("/Marked") if mark_info is not None else None
    if getattr(marked, "value", None) is not True:
        problems.append("the catalog does not say it is marked")
    if catalog.get("/Lang") != "en":
        problems.append(f"the document's language is {catalog.get('/Lang')!r}")
    if "/ID" not in reader.trailer:
        problems.append("the trailer has no file id")
    if "/StructTreeRoot" not in catalog:
        return [*problems, "there is no structure tree"]
    root = catalog["/StructTreeRoot"]
    root_id = catalog.raw_get("/StructTreeRoot").idnum
    in_tree: dict[int, Any] = {}  # element id: the element

    def walk(kids: Any, parent: int) -> None:
        kids = kids.get_object()
        for kid in kids if isinstance(kids, list) else [kids]:
            element = kid.get_object()
            if isinstance(element, dict) and "/S" in element:
                number = element.indirect_reference.idnum
                in_tree[number] = element
                if element.raw_get("/P").idnum != parent:
                    problems.append(f"a {element['/S']} names another parent than its own")
                if "/K" in element:
                    walk(element.raw_get("/K"), number)

    walk(root.raw_get("/K"), root_id)

    def hangs_from_root(element: Any) -> bool:
        for _ in range(100):
            above = element.raw_get("/P")
            if above is None:
                return False
            if above.idnum == root_id:
                return True
            element = above.get_object()
        return False

    parents: dict[int, Any] = {}

    def numbers(node: Any) -> None:
        node = node.get_object()
        nums = node.get("/Nums", [])
        for i in range(0, len(nums), 2):
            parents[int(nums[i])] = nums[i + 1].get_object()
        for kid in node.get("/Kids", []):
            numbers(kid)

    numbers(root["/ParentTree"])
    keys = [page.get("/StructParents") for page in reader.pages]
    if None in keys or len(set(keys)) != len(keys):
        problems.append(f"the pages' keys into the parent tree are {keys}")
    for number, page in enumerate(reader.pages, start=1):
        page_id = page.indirect_reference.idnum
        if not any(e.raw_get("/Pg").idnum == page_id for e in in_tree.values() if "/Pg" in e):
            problems.append(f"page {number}: nothing in the tree is on it")
        used = {int(m) for m in re.findall(rb"/MCID\s+(\d+)", page.get_contents().get_data())}
        elements = parents.get(page.get("/StructParents"), [])
        for mcid in sorted(used):
            if mcid >= len(elements):
                problems.append(f"page {number}: marked content {mcid} leads to no element")
                continue
            element = elements[mcid].get_object()
            if not hangs_from_root(element):
                problems.append(f"page {number}: marked content {mcid}'s element is cut off")
            if element.raw_get("/Pg").idnum != page_id:
                problems.append(f"page {number}: marked content {mcid}'s element is elsewhere")
    return problems
