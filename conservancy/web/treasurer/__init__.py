"""Treasurers' pages: a project's fund, donors and transactions."""
