"""What a file staff upload is, known by its bytes, never by its name or the browser's word.

Pure: standard library only. Images are also measured from their headers, so a
logo's size is known without decoding it (nor trusting a decoder with it).
SVG is never taken: it is a document that can carry scripts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str
    extension: str
    content_type: str


PDF = Kind("PDF", "pdf", "application/pdf")
PNG = Kind("PNG", "png", "image/png")
JPEG = Kind("JPEG", "jpg", "image/jpeg")
WEBP = Kind("WebP", "webp", "image/webp")
BY_EXTENSION = {k.extension: k for k in (PDF, PNG, JPEG, WEBP)}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers: C0-CF but for DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def sniff(data: bytes) -> Kind | None:
    """The kind of ``data`` by its magic bytes, or None for anything else."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(_PNG_SIGNATURE):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(data) >= 16 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def looks_like_markup(data: bytes) -> bool:
    """SVG, HTML or XML: what a browser might run scripts in."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<svg", b"<!doctype", b"<html", b"<!--"))


def pdf_complete(data: bytes) -> bool:
    """A PDF ends with its end-of-file marker; a cut-off upload does not."""
    return b"%%EOF" in data[-1024:]


def image_size(data: bytes, kind: Kind) -> tuple[int, int] | None:
    """(width, height) from the image's header, or None when the header cannot be read."""
    if kind is PNG:
        return _png_size(data)
    if kind is JPEG:
        return _jpeg_size(data)
    if kind is WEBP:
        return _webp_size(data)
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            at += 2
            continue
        if marker in {0xD9, 0xDA}:  # end of image, or a scan before any frame header
            return None
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if length < 2:
            return None
        if marker in _SOF:
            if at + 9 > len(data):
                return None
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return width, height
        at += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(data[26:28], "little") & 0x3FFF
        height = int.from_bytes(data[28:30], "little") & 0x3FFF
        return width, height
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None
