"""Handing out a stored file someone uploaded (an invoice, a receipt): always as a download
of the type its bytes were found to be, never shown inline, never cached, never sniffed."""

from __future__ import annotations

from pathlib import Path

from flask import Response, abort, send_file

from conservancy.expenses.models import SpendingRequest


def send_upload(path: Path, mimetype: str, name: str) -> Response:
    """``path`` as an attachment named ``name``; 404 when the file is gone."""
    if not path.is_file():
        abort(404)
    answer = send_file(path, mimetype=mimetype, as_attachment=True, download_name=name)
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    answer.headers["Cache-Control"] = "no-store"
    return answer


def send_line_receipt(receipts_dir: Path, found: SpendingRequest, position: int) -> Response:
    """The receipt of a spending request's line ``position``; 404 when it has none."""
    line = next((ln for ln in found.lines if ln.position == position), None)
    if line is None or line.receipt_path is None or line.receipt_type is None:
        abort(404)
    path = receipts_dir / line.receipt_path
    return send_upload(path, line.receipt_type, f"{found.number}-line-{position}{path.suffix}")
