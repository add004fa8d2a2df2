"""The ``mentorflow`` command line (DESIGN §8). Each command group lives in a module of its own."""

from __future__ import annotations

from workers.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
