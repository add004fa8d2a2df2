"""``mentorflow services up`` points the dev server's UI at the API's codec server only when a codec key is set."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from workers.services.temporal import start_dev_argv
from workers.settings import ApiSettings, PrivacySettings, Settings, TemporalSettings

KEY = base64.b64encode(os.urandom(32)).decode()


def _endpoint(settings: Settings) -> str | None:
    argv = start_dev_argv(settings, Path("/tmp/temporal.db"))
    return argv[argv.index("--ui-codec-endpoint") + 1] if "--ui-codec-endpoint" in argv else None


def test_no_codec_key_no_codec_endpoint() -> None:
    assert _endpoint(Settings(_env_file=None, privacy=PrivacySettings())) is None  # type: ignore[call-arg]


def test_a_codec_key_points_the_ui_at_the_api() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, privacy=PrivacySettings(codec_key=KEY), api=ApiSettings(host="0.0.0.0", port=8155)
    )
    assert _endpoint(settings) == "http://127.0.0.1:8155/codec"
    assert settings.codec_origins == ("http://127.0.0.1:8233", "http://localhost:8233")


def test_a_headless_server_gets_no_codec_endpoint() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, privacy=PrivacySettings(codec_key=KEY), temporal=TemporalSettings(ui=False)
    )
    assert _endpoint(settings) is None
    assert "--headless" in start_dev_argv(settings, Path("/tmp/t.db"))


def test_codec_cors_origins_are_a_comma_separated_setting() -> None:
    privacy = PrivacySettings(codec_cors_origin=" https://ui.example.org/ , https://ui2.example.org")
    settings = Settings(_env_file=None, privacy=privacy)  # type: ignore[call-arg]
    assert settings.codec_origins == ("https://ui.example.org", "https://ui2.example.org")
