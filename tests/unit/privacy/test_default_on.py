"""Privacy is the default (issue 20): a deployment on defaults seals personal text, its key store is the configured
database (created on first use, even in a fresh run dir), and turning sealing off is said once at start."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from domain import Actor, LogMeeting
from domain.privacy.sealed import is_sealed
from projections.privacy.cipher import FieldCipher
from workers import connect
from workers.settings import PrivacySettings, Settings


class _NoTemporal:
    """Stands for the Temporal client: these tests never send a command."""


@pytest.fixture
def no_temporal(monkeypatch: pytest.MonkeyPatch) -> None:
    async def temporal_client(*_args: Any, **_kwargs: Any) -> _NoTemporal:
        return _NoTemporal()

    monkeypatch.setattr(connect, "temporal_client", temporal_client)
    monkeypatch.setattr(connect, "_warned", set())


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    monkeypatch.delenv("MENTORFLOW_PRIVACY__ENCRYPT", raising=False)
    monkeypatch.delenv("MENTORFLOW_DATABASE__URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None, run_dir=tmp_path / "fresh" / "run")  # type: ignore[call-arg]


def test_sealing_is_on_unless_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert PrivacySettings().encrypt is True
    assert PrivacySettings().plaintext_warning is None
    off = _settings(tmp_path, monkeypatch, MENTORFLOW_PRIVACY__ENCRYPT="false").privacy
    assert off.encrypt is False
    warning = off.plaintext_warning or ""
    assert warning.startswith("MENTORFLOW_PRIVACY__ENCRYPT=false") and "erasure cannot shred" in warning
    assert "\n" not in warning  # one line


async def test_a_default_client_seals_under_the_key_store_of_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_temporal: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="mentorflow.privacy"):
        client = await connect.connect_client(settings)
    assert caplog.records == []
    assert isinstance(client.privacy, FieldCipher)
    command = LogMeeting(
        command_id="c-1",
        actor=Actor(id="ana", role="mentor"),
        held_at="2026-01-05T10:00:00Z",
        duration_minutes=30,
        notes="we talked about the offer",
    )
    sealed = client.privacy.seal_command(command)
    assert is_sealed(sealed.notes)
    database = tmp_path / "fresh" / "run" / "mentorflow.db"  # the default: the embedded SQLite under the run dir
    with create_engine(f"sqlite:///{database}").connect() as conn:
        assert conn.execute(text("SELECT person_id FROM privacy_keys")).scalars().all() == ["ana"]
    assert client.privacy.open_text(sealed.notes) == "we talked about the offer"


async def test_a_database_override_moves_the_key_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_temporal: None
) -> None:
    other = tmp_path / "other.db"
    settings = _settings(tmp_path, monkeypatch).on_database(f"sqlite:///{other}")
    client = await connect.connect_client(settings)
    assert isinstance(client.privacy, FieldCipher)
    client.privacy.seal_text("bo", "hello", "c/x")
    with create_engine(f"sqlite:///{other}").connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM privacy_keys")).scalar() == 1


async def test_turned_off_it_is_said_once_and_nothing_is_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_temporal: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, monkeypatch, MENTORFLOW_PRIVACY__ENCRYPT="false")
    with caplog.at_level(logging.WARNING, logger="mentorflow.privacy"):
        first = await connect.connect_client(settings)
        await connect.connect_client(settings)
    assert first.privacy is None
    assert [r.getMessage() for r in caplog.records] == [settings.privacy.plaintext_warning]
    assert not (tmp_path / "fresh" / "run" / "mentorflow.db").exists()  # no key store was touched
