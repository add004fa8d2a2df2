"""The ``mentorflow`` command line (DESIGN §8). Each command group lives in a module of its own."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import NoReturn

from workers.cli.app import app
from workers.settings import SettingsError


def exit_without_finalization(code: int) -> NoReturn:
    """Flush everything, then leave without interpreter finalization (the one home of this workaround).

    The Temporal client's Rust threads can outlive the event loop, and CPython's finalization then sometimes aborts
    with ``Fatal Python error: PyGILState_Release`` (SIGABRT) after the work is done (temporalio/sdk-python#300;
    seen on about one exit in four): an exit code of -6 on a command that succeeded."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def main() -> NoReturn:
    """The ``mentorflow`` console script: run the CLI, then :func:`exit_without_finalization`. In-process callers
    (tests through CliRunner) call ``app`` and are left alone."""
    code: int = 0
    try:
        app()
    except SettingsError as exc:  # a refused MENTORFLOW_* variable: exit 2 naming it, never a traceback
        print(f"mentorflow: {exc}", file=sys.stderr)
        if "--json" in sys.argv:
            print(json.dumps({"error": str(exc), "exit_code": 2, "ok": False}, indent=2, sort_keys=True))
        code = 2
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            code = 1
        else:
            code = int(exc.code or 0)
    exit_without_finalization(code)


__all__ = ["app", "exit_without_finalization", "main"]
