"""``mentorflow survey list | show | validate``: the survey instruments (issue 15).

A survey is answered with ``mentorflow relationship do R submit-survey --by ROLE:ID --data '{"request_id":
"survey-3", "answers": {...}}'`` (``POST /relationships/R/commands/submit-survey`` over HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from workers.cli.output import console, print_json
from workers.cli.relationship import EXIT_INPUT, _fail

app = typer.Typer(help="Survey instruments: list the shipped ones, show one, validate a file.", no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="print JSON")


def _summary(instrument: Any) -> dict[str, Any]:
    return {
        "id": instrument.id,
        "version": instrument.version,
        "title": instrument.title,
        "questions": len(instrument.questions),
        "required": [q.id for q in instrument.questions if q.required],
        "measures": sorted({q.measures for q in instrument.questions if q.measures}),
    }


@app.command("list")
def list_instruments(
    policy: str = typer.Option("mentoring-12m", "--policy", help="a built-in policy whose schedule to show"),
    as_json: bool = JSON_OPTION,
) -> None:
    """The shipped instruments (every version), and when the policy asks each."""
    from domain import DomainError, builtin_policy, shipped_instruments

    try:
        schedule = builtin_policy(policy).surveys
    except DomainError as exc:
        _fail(exc.rule, EXIT_INPUT, as_json)
    when: dict[str, str] = {}
    for step in schedule.steps if schedule else ():
        every = f" {step.every}" if step.every else ""
        when[step.instrument] = f"{step.on}{every} (v{step.version}, to {'+'.join(step.to)})"
    rows = [_summary(i) | {"scheduled": when.get(i.id)} for _, i in sorted(shipped_instruments().items())]
    if as_json:
        print_json({"policy": policy, "instruments": rows})
        return
    table = Table(title=f"Survey instruments (schedule: policy {policy})")
    for column in ("id", "version", "title", "questions", "measures", "scheduled"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["id"], str(r["version"]), r["title"], str(r["questions"]), ", ".join(r["measures"]), r["scheduled"] or ""
        )
    console.print(table)


@app.command("show")
def show(
    instrument_id: str = typer.Argument(..., metavar="INSTRUMENT"),
    version: int | None = typer.Option(None, "--version", help="default: the latest"),
    as_json: bool = JSON_OPTION,
) -> None:
    """One instrument's questions: type, range or options, required, what each measures."""
    from domain import DomainError, builtin_instrument

    try:
        instrument = builtin_instrument(instrument_id, version)
    except DomainError as exc:
        _fail(exc.rule, EXIT_INPUT, as_json)
    if as_json:
        print_json(instrument.model_dump(mode="json"))
        return
    table = Table(title=f"{instrument.title} ({instrument.ref})")
    for column in ("id", "type", "values", "required", "measures", "text"):
        table.add_column(column)
    for q in instrument.questions:
        values = f"{q.min}-{q.max}" if q.type == "scale" else ", ".join(q.options) or f"≤ {q.max_length} chars"
        table.add_row(q.id, q.type, values, "yes" if q.required else "", q.measures or "", q.text)
    console.print(table)


@app.command("validate")
def validate(path: Path = typer.Argument(..., metavar="FILE"), as_json: bool = JSON_OPTION) -> None:
    """Check an instrument file (TOML): exit 0 with its summary, or exit 2 naming every field at fault."""
    from domain import DomainError, parse_instrument_toml
    from domain.limits import MAX_FILE_BYTES

    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        instrument = parse_instrument_toml(raw.decode("utf-8"))
    except OSError as exc:
        _fail(f"{path}: {exc.strerror or exc}", EXIT_INPUT, as_json)
    except UnicodeDecodeError as exc:
        _fail(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})", EXIT_INPUT, as_json)
    except DomainError as exc:
        _fail(f"{path}: {exc.rule}", EXIT_INPUT, as_json)
    summary = _summary(instrument)
    if as_json:
        print_json({"ok": True, **summary})
    else:
        console.print(f"{path}: {instrument.ref} ({summary['questions']} questions) is valid")
