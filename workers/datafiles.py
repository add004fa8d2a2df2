"""Policy and instrument files (TOML or YAML), read with every limit of domain/limits.py before anything uses them.

* size: at most ``MAX_FILE_BYTES`` (read bounded, so a named pipe or ``/dev/zero`` cannot exhaust memory);
* YAML: a safe loader that refuses aliases and anchors (no alias bomb can expand) and stops composing at
  ``MAX_FILE_DEPTH`` levels or ``MAX_FILE_NODES`` values (no RecursionError, no memory exhaustion); one document;
* TOML: stdlib ``tomllib``; a nesting too deep for its recursive parser is reported, not raised;
* types: the data is checked (:func:`domain.limits.data_problem`) before use: a mapping at the top, string keys,
  only strings, numbers, booleans, lists and mappings.

Every failure is a :class:`DataFileError` naming the file and the rule; the CLI turns it into exit 2.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from domain.limits import MAX_FILE_BYTES, MAX_FILE_DEPTH, MAX_FILE_NODES, data_problem

__all__ = ["YAML_SUFFIXES", "DataFileError", "load_data_file", "read_bounded_text"]

YAML_SUFFIXES = (".yaml", ".yml")


class DataFileError(ValueError):
    """A policy or instrument file that cannot be used; the message names the file and the rule."""

    def __init__(self, path: Path, rule: str) -> None:
        super().__init__(f"{path}: {rule}")
        self.path = path
        self.rule = rule


class _Refused(Exception):
    """Raised inside the YAML composer; becomes a DataFileError with the file's name."""


class _BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without aliases or anchors, and with a bounded depth and number of nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = f"line {event.start_mark.line + 1}" if event.start_mark is not None else "?"
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"{line}: YAML aliases (*{event.anchor}) are not allowed")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Refused(f"{line}: YAML anchors (&{anchor}) are not allowed")
        self._nodes += 1
        if self._nodes > MAX_FILE_NODES:
            raise _Refused(f"more than {MAX_FILE_NODES} values (MAX_FILE_NODES)")
        if not isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_FILE_DEPTH:
            raise _Refused(f"{line}: nested deeper than {MAX_FILE_DEPTH} levels (MAX_FILE_DEPTH)")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def read_bounded_text(path: Path, max_bytes: int = MAX_FILE_BYTES, constant: str = "MAX_FILE_BYTES") -> str:
    """The UTF-8 text of ``path``, read at most ``max_bytes`` (+1 to tell a larger file): a named pipe or
    ``/dev/zero`` cannot exhaust memory. Raises :class:`DataFileError` naming the file and the rule."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DataFileError(path, f"cannot read it: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise DataFileError(path, f"larger than {max_bytes} bytes ({constant})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not UTF-8 text (byte {exc.start})") from None


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() in YAML_SUFFIXES:
        loader = _BoundedSafeLoader(text)
        try:
            return loader.get_single_data()
        except _Refused as exc:
            raise DataFileError(path, str(exc)) from None
        except (yaml.YAMLError, ValueError) as exc:  # ValueError: an integer or a date YAML cannot build
            raise DataFileError(path, f"not valid YAML: {exc}") from None
        finally:
            loader.dispose()
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise DataFileError(path, f"nested too deeply to parse (MAX_FILE_DEPTH is {MAX_FILE_DEPTH})") from None
    except ValueError as exc:  # TOMLDecodeError, and integers beyond Python's digit limit
        raise DataFileError(path, f"not valid TOML: {exc}") from None


def load_data_file(path: Path) -> dict[str, Any]:
    """The mapping in a TOML file, or a YAML file (``.yaml``/``.yml``), within every file limit."""
    data = _parse(path, read_bounded_text(path))
    if not isinstance(data, dict):
        raise DataFileError(path, f"must hold a mapping at the top level, not a {type(data).__name__}")
    problem = data_problem(data)
    if problem:
        raise DataFileError(path, problem)
    return data
