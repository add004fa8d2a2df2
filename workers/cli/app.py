"""The root Typer app; command groups register themselves here."""

from __future__ import annotations

import typer

from workers.cli import api as api_cli
from workers.cli import audit as audit_cli
from workers.cli import demo as demo_cli
from workers.cli import privacy as privacy_cli
from workers.cli import program as program_cli
from workers.cli import (
    program_admin,  # noqa: F401 - registers program create | enroll | show
    program_cycle,  # noqa: F401 - registers program withdraw | configure | close-cycle
    projections,
    report,
    services,
    survey,
)
from workers.cli import relationship as relationship_cli
from workers.cli import worker as worker_cli

app = typer.Typer(
    name="mentorflow",
    help="Event-sourced workflow engine for mentoring-relationship lifecycles.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(services.app, name="services")
app.add_typer(relationship_cli.app, name="relationship")
app.add_typer(program_cli.app, name="program")
app.command(name="worker")(worker_cli.worker)
app.add_typer(report.app, name="report")
app.add_typer(survey.app, name="survey")
app.add_typer(projections.app, name="projections")
app.command(name="projector")(projections.projector)
app.command(name="api")(api_cli.api)
app.command(name="demo")(demo_cli.demo)
app.add_typer(audit_cli.app, name="audit")
app.add_typer(privacy_cli.app, name="privacy")
