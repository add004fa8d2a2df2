"""The ``mentorflow`` command line (DESIGN §8). Each command group lives in a module of its own."""

from __future__ import annotations

from workers.cli.app import app


def main() -> None:
    """Run the CLI, then leave without interpreter finalization.

    The Temporal client's Rust threads can outlive the event loop, and CPython's finalization then sometimes aborts
    with ``Fatal Python error: PyGILState_Release`` (SIGABRT) after the work is done (temporalio/sdk-python#300):
    an exit code of -6 on a command that succeeded. Every command's output is flushed first."""
    import logging
    import os
    import sys

    code: int = 0
    try:
        app()
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            code = 1
        else:
            code = int(exc.code or 0)
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


__all__ = ["app", "main"]
