"""``mentorflow demo`` end to end, small (8 stories, 30-second terms): it finishes, every relationship closes, and
the numbers it prints agree with ``mentorflow report`` and with the dashboard's JSON."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port, isolated_env, mentorflow
from workers.settings import Settings

pytestmark = pytest.mark.timeout(420)


def _run(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, check=False)


REPORTS = ("stages", "transitions", "funnel", "at-risk", "feedback")


def _cli_answers(
    mf: list[str], program: str, env: dict[str, str]
) -> dict[str, Future[subprocess.CompletedProcess[str]]]:
    """The read-only CLI calls the test compares with the demo's numbers, all started at once (each is mostly a
    Python start-up, ~2 s on a loaded machine, and none depends on another): ``report matching``, ``audit verify``
    and every ``report``."""
    calls = {
        "matching": ([*mf, "report", "matching", "--program", program, "--json"], 60),
        "audit": ([*mf, "audit", "verify", "--all", "--program", program, "--json"], 120),
        **{name: ([*mf, "report", name, "--program", program, "--json"], 60) for name in REPORTS},
    }
    pool = ThreadPoolExecutor(max_workers=len(calls))
    try:
        return {name: pool.submit(_run, argv, env, timeout) for name, (argv, timeout) in calls.items()}
    finally:
        pool.shutdown(wait=False)


def test_small_demo_agrees_with_the_reports_and_the_dashboard(stack: Settings, tmp_path: Path) -> None:
    env = isolated_env(tmp_path / "run", free_port())
    mf = mentorflow()
    done = _run([*mf, "demo", "--relationships", "8", "--term", "30", "--json", "--keep-running"], env, 360)
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout)
        program = result["program"]
        cli = _cli_answers(mf, program, env)
        assert result["errors"] == []
        assert result["open_relationships"] == []
        assert result["relationships"] == 9  # 8 stories + the rematch's successor
        assert {"decline", "rematch", "expire", "contested, ended", "renewal"} <= set(result["stories"])
        assert "Watch it live" in done.stderr  # progress goes to stderr with --json
        reports = result["reports"]

        # the demo starts from enrollment: 12 mentees and 10 mentors in two people files; the round proposed the first
        # six stories' pairs, a manager and a mentee the next two (from suggestions), as `report matching` shows
        funnel = result["matching"]["funnel"]
        assert (funnel["enrolled"], funnel["matched"], funnel["unmatched"]) == (12, 8, 4)
        methods = {row["match_method"]: row["relationships"] for row in result["matching"]["by_method"]}
        assert methods == {"algorithmic": 6, "admin": 1, "self": 1, "rematch": 1}
        folder = tmp_path / "run" / "demo" / program
        assert [(folder / f).read_text().count("\n") for f in ("people.jsonl", "people-more.jsonl")] == [12, 10]
        matching = cli["matching"].result()
        assert matching.returncode == 0, matching.stderr
        assert json.loads(matching.stdout)["funnel"] == funnel

        # the demo ends with the auditor's verification of its program (9 relationships and the program's own chain),
        # and the auditor sees the same
        verification = result["verification"]
        assert (verification["ok"], verification["relationships"], verification["failed"]) == (True, 10, []), (
            verification["reports"]
        )
        audit = cli["audit"].result()
        assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-3000:]
        *lines, summary = [json.loads(line) for line in audit.stdout.splitlines()]
        assert (summary["ok"], summary["relationships"], len(lines)) == (True, 10, 10)
        assert all(line["replay"]["ok"] and line["stores"]["temporal"]["events"] for line in lines)

        # the same numbers as `mentorflow report`
        for name in REPORTS:
            answer = cli[name].result()
            assert answer.returncode == 0, answer.stderr
            assert json.loads(answer.stdout) == reports[name], name

        assert any(r["section"] == "satisfaction" for r in reports["feedback"])  # the check-ins, read as pulses
        funnel = reports["funnel"][0]
        assert funnel["proposed"] == 9 and funnel["closed"] == 9
        assert funnel["declined"] == 1 and funnel["expired"] == 1 and funnel["rematched"] == 1
        assert funnel["redefinition"] >= 4
        assert funnel["collegial"] + funnel["friendship"] + funnel["ended"] == funnel["redefinition"]

        # ...and as the dashboard
        token_file = tmp_path / "run" / "demo" / "token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        token = token_file.read_text().strip()
        assert result["dashboard"].endswith(f"#token={token}")
        # the dashboard's token is read-only: it ends up in a browser
        write = httpx.post(
            f"http://127.0.0.1:{env['MENTORFLOW_API__PORT']}/relationships",
            json={"program_id": program, "mentor_id": "m", "mentee_id": "e"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert write.status_code == 403, write.text
        data = httpx.get(
            f"http://127.0.0.1:{env['MENTORFLOW_API__PORT']}/dashboard/data",
            params={"program": program},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        assert data["stages"] == reports["stages"]
        assert data["funnel"] == reports["funnel"]
        assert data["at_risk"] == reports["at-risk"]
        assert data["total"] == 9
        visits = {r["stage"]: r["completed_visits"] for r in reports["stages"]}
        assert all(r["completed_visits"] == visits[r["stage"]] for r in data["time_in_stage"])
        assert any(t["trigger"] == "timer" for t in data["automatic"])
    finally:
        stopped = _run([*mf, "demo", "--stop"], env, 60)
        assert stopped.returncode == 0, stopped.stderr
