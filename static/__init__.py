"""Style sheets and images; in the wheel, conservancy.static (conservancy/infra/resources.py)."""
