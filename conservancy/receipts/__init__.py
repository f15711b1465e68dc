"""Receipts: what a donor keeps for their tax records.

:mod:`conservancy.receipts.document` holds the receipt's content and the IRS
wording rules (pure, no database, no PDF library); :mod:`conservancy.receipts.render`
turns one document into a PDF/A-3b file and is the only importer of WeasyPrint.
"""
