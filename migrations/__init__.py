"""Alembic's migrations; in the wheel, conservancy.migrations (conservancy/infra/resources.py)."""
