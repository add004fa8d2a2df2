from __future__ import annotations

import pytest

from benchmarks.data import full_lifecycle
from domain import Envelope


@pytest.fixture(scope="session")
def history() -> list[Envelope]:
    """One relationship through all four stages (mentoring-12m)."""
    return full_lifecycle("r-audit")
