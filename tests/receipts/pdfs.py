"""Reading receipt PDFs in tests, and skipping when WeasyPrint cannot load."""

from __future__ import annotations

from io import BytesIO

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
