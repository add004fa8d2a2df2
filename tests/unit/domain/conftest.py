from __future__ import annotations

import pytest

from tests.unit.domain.helpers import Driver


@pytest.fixture
def driver() -> Driver:
    return Driver()
