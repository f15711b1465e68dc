"""Files as staff upload them: real images made by Pillow, a small real PDF, and impostors."""

from __future__ import annotations

import io

from PIL import Image


def image(kind: str, size: tuple[int, int] = (300, 120)) -> bytes:
    """A real ``kind`` ("PNG", "JPEG", "WEBP") image of ``size``, as an image program saves it."""
    out = io.BytesIO()
    Image.new("RGB", size, (43, 91, 132)).save(out, kind)
    return out.getvalue()


def pdf() -> bytes:
    """A one-page PDF, as Pillow writes it."""
    out = io.BytesIO()
    Image.new("RGB", (60, 80), "white").save(out, "PDF")
    return out.getvalue()


SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script></svg>"
)
HTML_NAMED_PNG = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
