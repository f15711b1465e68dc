"""Sponsor staff's money pages: Twisted (10% fee) and Sugar Labs, as in the staff tests."""

from __future__ import annotations

import pytest

from conservancy.runtime import Runtime
from tests.factories import with_project


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    """The test runtime with two projects: Twisted and Sugar Labs."""
    return with_project(with_project(runtime), "sugar", "Sugar Labs")
