"""The Jinja templates; in the wheel, conservancy.templates (conservancy/infra/resources.py)."""
