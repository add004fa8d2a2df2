"""Files holding secrets or personal data are created owner-only (0600) by os.open, never chmod-ed afterwards."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from workers.services.process import write_private


def test_a_new_file_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_private(tmp_path / "token", "s3cret\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
    assert (tmp_path / "token").read_text() == "s3cret\n"


def test_an_existing_readable_file_is_narrowed_before_the_secret_is_written(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("old, longer content")
    path.chmod(0o644)
    write_private(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "new"


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OSError):
        write_private(tmp_path / "link", "secret")
    assert target.read_text() == "keep"


def test_demo_token_is_created_0600_and_reused(tmp_path: Path) -> None:
    from workers.demo.runner import demo_token
    from workers.settings import Settings

    settings = Settings(run_dir=tmp_path)
    token = demo_token(settings)
    assert len(token) >= 24
    assert stat.S_IMODE((tmp_path / "demo" / "token").stat().st_mode) == 0o600
    assert demo_token(settings) == token
