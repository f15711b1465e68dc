"""Donors and their gifts."""
