"""Alembic's migrations; in the wheel, conservancy.migrations (conservancy/resources.py)."""
