"""``mentorflow report stages | transitions | funnel | at-risk | feedback [--program P] [--format table|csv|json]``."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from enum import StrEnum
from typing import Any

import typer
from rich.table import Table

from audit.history import csv_cell
from projections.read_model import COLUMNS
from service.relationships import MentorflowService, ReportName
from workers.cli.output import console
from workers.connect import connect_client
from workers.settings import load_settings

app = typer.Typer(help="Reports for program managers, from the projection tables.", no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


TITLES = {
    "stages": "Relationships per stage, and time spent in each (days)",
    "transitions": "Stage transitions: from → to, by what",
    "funnel": "Program funnel",
    "at-risk": "At-risk relationships (health yellow/red or marginal)",
    "feedback": "Feedback: response rates, satisfaction, gaps, Kram function mix, program evaluation",
}


def _render(name: str, rows: list[dict[str, Any]], fmt: Format) -> None:
    columns = COLUMNS[name]
    if fmt is Format.json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if fmt is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
        return
    table = Table(title=TITLES[name])
    for column in columns:
        table.add_column(column, justify="right" if rows and isinstance(rows[0].get(column), int | float) else "left")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)
    if not rows:
        console.print("[dim]no rows[/dim]")


def _run(name: ReportName, program: str | None, fmt: Format, as_json: bool, database_url: str | None) -> None:
    """The application service's report (the rows ``GET /reports/NAME`` answers), rendered."""
    settings = load_settings().on_database(database_url)

    async def rows() -> list[dict[str, Any]]:
        # Temporal is connected lazily, never for a report: the projection tables answer it.
        service = MentorflowService(lambda: connect_client(settings), settings.database_url)
        await service.start()  # migrates: an empty, current schema rather than an error on a fresh install
        try:
            return await service.report(name, program)
        finally:
            await service.close()

    _render(name, asyncio.run(rows()), Format.json if as_json else fmt)


ProgramOpt = typer.Option(None, "--program", help="only this program")
FormatOpt = typer.Option(Format.table, "--format", help="table (rich), csv or json")
JsonOpt = typer.Option(False, "--json", help="same as --format json")
UrlOpt = typer.Option(None, "--database-url", help="default: the settings' database URL")


@app.command()
def stages(
    program: str = ProgramOpt, fmt: Format = FormatOpt, as_json: bool = JsonOpt, database_url: str = UrlOpt
) -> None:
    """Relationships per stage now, and how long completed stage visits took."""
    _run("stages", program, fmt, as_json, database_url)


@app.command()
def transitions(
    program: str = ProgramOpt, fmt: Format = FormatOpt, as_json: bool = JsonOpt, database_url: str = UrlOpt
) -> None:
    """Every kind of stage change with its trigger (command or timer) and count."""
    _run("transitions", program, fmt, as_json, database_url)


@app.command()
def funnel(
    program: str = ProgramOpt, fmt: Format = FormatOpt, as_json: bool = JsonOpt, database_url: str = UrlOpt
) -> None:
    """Proposed → accepted → kicked off → cultivation → separation → redefinition, and the side exits."""
    _run("funnel", program, fmt, as_json, database_url)


@app.command("at-risk")
def at_risk(
    program: str = ProgramOpt, fmt: Format = FormatOpt, as_json: bool = JsonOpt, database_url: str = UrlOpt
) -> None:
    """Open relationships going quiet (yellow/red) or marginal, worst first."""
    _run("at-risk", program, fmt, as_json, database_url)


def matching_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The matching report as flat rows (``section``, ``group`` and the section's numbers): its CSV and table form."""
    funnel = data["funnel"]
    rows: list[dict[str, Any]] = [
        {"section": "funnel", "group": step, "count": funnel[step]}
        for step in ("enrolled", "matched", "accepted", "kicked_off", "cultivation", "completed", "withdrawn")
    ]
    rows += [{"section": "side_exit", "group": k, "count": v} for k, v in funnel["side_exits"].items()]
    rows.append({"section": "funnel", "group": "unmatched", "count": funnel["unmatched"]})
    rows += [{"section": "unmatched", "group": k, "count": v} for k, v in funnel["unmatched_reasons"].items()]
    rows += [{"section": "by_method", "group": r["match_method"], **r} for r in data["by_method"]]
    rows += [{"section": "by_score_band", "group": r["band"], **r} for r in data["by_score_band"]]
    rows += [{"section": "capacity", "group": r["mentor"], **r} for r in data["capacity"]]
    return rows


MATCHING_COLUMNS = (
    *("section", "group", "count", "relationships", "accepted", "kicked_off", "cultivation", "completed"),
    *("side_exits", "open", "completed_pct", "mentee_satisfaction", "capacity", "free"),
)


@app.command()
def matching(
    program: str = typer.Option(..., "--program", help="the program"),
    fmt: Format = FormatOpt,
    as_json: bool = JsonOpt,
    database_url: str = UrlOpt,
) -> None:
    """The funnel from enrollment (enrolled → matched → accepted → kicked off → cultivation → completed, side exits,
    unmatched with reasons), outcomes by match method and by score band, capacity use by mentor."""
    from workers.cli.program import with_service

    data = with_service(lambda s: s.matching_report(program), as_json, database_url)
    fmt = Format.json if as_json else fmt
    if fmt is Format.json:
        print(json.dumps(data, indent=2, default=str))
        return
    rows = matching_rows(data)
    if fmt is Format.csv:
        writer = csv.DictWriter(
            sys.stdout, fieldnames=list(MATCHING_COLUMNS), extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
        return
    for section in dict.fromkeys(r["section"] for r in rows):
        part = [r for r in rows if r["section"] == section]
        columns = [c for c in MATCHING_COLUMNS[1:] if any(c in r for r in part)]
        table = Table(title=f"{program}: {section.replace('_', ' ')}")
        for column in columns:
            table.add_column(column)
        for r in part:
            table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
        console.print(table)


@app.command()
def feedback(
    program: str = ProgramOpt, fmt: Format = FormatOpt, as_json: bool = JsonOpt, database_url: str = UrlOpt
) -> None:
    """Survey response rates by instrument and cycle, satisfaction by stage and role, mentor-mentee gaps, the
    career/psychosocial mix by stage and the program evaluation (one row per figure, its kind in ``section``)."""
    _run("feedback", program, fmt, as_json, database_url)
