"""``mentorflow program withdraw | configure | close-cycle`` (issue 14): the program commands after enrollment.

``withdraw`` takes one person out of one role (a participant withdraws themself in the role they act in, a manager
anyone; another role is refused by the program, exit 3): they are no longer in a round, suggested or counted as
enrolled; their relationships run on.

``configure`` changes the configuration. ``--matching-file`` alone replaces the matching configuration (TOML, as
``program create --matching-file``): the next round, suggestion and score table read it; the proposals made before
keep the version they recorded. ``--name``, ``--policy``, ``--cycle-start``/``--cycle-end`` and ``--retention-days``
(with or without a matching file) record one ``ProgramConfigured``: proposals made after it pin the new default
policy, running relationships keep theirs; the retention pass reads the program's retention.

``close-cycle`` ends the program's cycle: nothing more is enrolled, configured or matched, and the program's
workflow ends once its chain is published.

Bad input exits 2 naming the option and the rule, before anything is sent; other exit codes as ``program``.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from workers.cli.program import EXIT_CODES_HELP, PROGRAM_ARGUMENT, app, with_service
from workers.cli.program_admin import BY_OPTION, _done, _matching, _problem
from workers.cli.relationship import EXIT_INPUT, JSON_OPTION, _actor, _fail, _load_policy

_ROLES = ("mentor", "mentee")


def _manager(by: str, what: str) -> Any:
    actor = _actor(by)
    if actor.role.value != "manager":
        raise typer.BadParameter(f"{what} is done by a manager (manager:ID)", param_hint="--by")
    return actor


def _command(cls: Any, as_json: bool, option: str, **fields: Any) -> Any:
    """The command, or exit 2 naming the field and the rule (nothing sent)."""
    try:
        return cls(command_id=str(uuid.uuid4()), **fields)
    except ValidationError as exc:
        _fail(_problem(option, exc), EXIT_INPUT, as_json)


@app.command(epilog=EXIT_CODES_HELP)
def withdraw(
    program: str = PROGRAM_ARGUMENT,
    person: str = typer.Option(..., "--person", help="the person's id"),
    role: str | None = typer.Option(
        None, "--role", help="mentor or mentee (default: the role of --by when a participant withdraws themself)"
    ),
    reason: str = typer.Option("", "--reason", help="why (kept on the program's chain)"),
    by: str = BY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Withdraw one person from one role: a participant themself (--by mentee:ID / mentor:ID), a manager anyone."""
    from domain.programs.commands import WithdrawParticipant

    actor = _actor(by)
    if role is None:
        if actor.role.value not in _ROLES:
            raise typer.BadParameter("give mentor or mentee: a manager names the role withdrawn", param_hint="--role")
        role = str(actor.role.value)
    if role not in _ROLES:
        raise typer.BadParameter(f"{role!r} is not mentor or mentee", param_hint="--role")
    if actor.role.value in _ROLES and actor.id != person:
        raise typer.BadParameter(f"a participant withdraws only themself ({actor.id}), not {person}", param_hint="--by")
    command = _command(
        WithdrawParticipant, as_json, "program withdraw",
        actor=actor, program_id=program, person_id=person, role=role, reason=reason,
    )  # fmt: skip
    result = with_service(lambda s: s.withdraw(command), as_json)
    _done(result, as_json, f"{person} withdrew as {role} from {program}")


def _day(value: str | None, option: str) -> date | None:
    try:
        return None if value is None else date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


@app.command(epilog=EXIT_CODES_HELP)
def configure(
    program: str = PROGRAM_ARGUMENT,
    matching_file: Path | None = typer.Option(None, "--matching-file", help="the new matching configuration TOML"),
    name: str | None = typer.Option(None, "--name", help="the program's new name"),
    policy: str | None = typer.Option(None, "--policy", help="new default lifecycle policy (built-in name)"),
    cycle_start: str | None = typer.Option(None, "--cycle-start", help="YYYY-MM-DD"),
    cycle_end: str | None = typer.Option(None, "--cycle-end", help="YYYY-MM-DD"),
    retention_days: int | None = typer.Option(
        None, "--retention-days", help="days personal data of the program's closed relationships is kept"
    ),
    by: str = BY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Change the program's configuration for what comes next: the matching configuration (rounds, suggestions,
    scores), name, default policy (pinned by later proposals; running relationships keep theirs), cycle window,
    retention. Give at least one option."""
    from domain.programs.commands import ConfigureMatching, ConfigureProgram

    actor = _manager(by, "configuring a program")
    settings = {"name": name, "policy": policy, "cycle_start": cycle_start, "cycle_end": cycle_end,
                "retention_days": retention_days}  # fmt: skip
    if matching_file is None and all(v is None for v in settings.values()):
        raise typer.BadParameter(
            "give at least one of --matching-file, --name, --policy, --cycle-start, --cycle-end, --retention-days",
            param_hint="--matching-file",
        )
    config = None if matching_file is None else _matching(matching_file)
    if config is not None and all(v is None for v in settings.values()):  # the matching configuration alone
        command = _command(
            ConfigureMatching, as_json, "program configure", actor=actor, program_id=program, matching=config
        )
        text = f"{program}: matching {config.version} configured"
    else:
        command = _command(
            ConfigureProgram, as_json, "program configure", actor=actor, program_id=program, name=name,
            default_policy=None if policy is None else _load_policy(policy, None), matching=config,
            cycle_start=_day(cycle_start, "--cycle-start"), cycle_end=_day(cycle_end, "--cycle-end"),
            retention_days=retention_days,
        )  # fmt: skip
        text = f"{program}: configured ({', '.join(k for k, v in settings.items() if v is not None)})"
    result = with_service(lambda s: s.configure(command), as_json)
    _done(result, as_json, text)


@app.command(name="close-cycle", epilog=EXIT_CODES_HELP)
def close_cycle(program: str = PROGRAM_ARGUMENT, by: str = BY_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Close the program's cycle: nothing more is enrolled, configured or matched (open relationships run on)."""
    from domain.programs.commands import CloseCycle

    actor = _manager(by, "closing a cycle")
    command = _command(CloseCycle, as_json, "program close-cycle", actor=actor, program_id=program)
    result = with_service(lambda s: s.close_cycle(command), as_json)
    _done(result, as_json, f"{program}: cycle closed")
