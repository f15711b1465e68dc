"""The Jinja templates; in the wheel, conservancy.templates (conservancy/resources.py)."""
