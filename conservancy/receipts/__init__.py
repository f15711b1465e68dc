"""Receipts: what a donor keeps for their tax records.

* ``document``   the receipt's content and the IRS wording rules (pure)
* ``render``     one document as a tagged PDF/A-3a file; the only importer of WeasyPrint
* ``models``     issued receipts, and the per-year counters behind their numbers
* ``numbering``  numbers without gaps per calendar year, safe under concurrency
* ``service``    recording a receipt (or a voiding notice, or a replacement) for a gift
"""
