from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from projections.db import make_engine, migrate


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    migrate(sqlite_url)
    engine = make_engine(sqlite_url, writer=True)
    yield engine
    engine.dispose()


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()
