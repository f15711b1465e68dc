"""Handing out a stored file someone uploaded (an invoice, a receipt): always as a download
of the type its bytes were found to be, never shown inline, never cached, never sniffed."""

from __future__ import annotations

from pathlib import Path

from flask import Response, abort, send_file


def send_upload(path: Path, mimetype: str, name: str) -> Response:
    """``path`` as an attachment named ``name``; 404 when the file is gone."""
    if not path.is_file():
        abort(404)
    answer = send_file(path, mimetype=mimetype, as_attachment=True, download_name=name)
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    answer.headers["Cache-Control"] = "no-store"
    return answer
