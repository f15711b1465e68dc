"""Bank reconciliation: the bank's statements read, matched to the books, and asserted."""
