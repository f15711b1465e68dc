"""Reports read from the books' index and snapshot, never from a full load of the ledger.

* ``statement``  a project's statement for a period, as CSV and PDF
"""
