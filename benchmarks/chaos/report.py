"""The chaos run's table (printed, and written into docs/reliability.md between its markers)."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.chaos.run import ChaosReport

BEGIN = "<!-- chaos:begin -->"
END = "<!-- chaos:end -->"


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    head = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{head} (with uncommitted changes)" if dirty else head


def table(report: ChaosReport) -> str:
    f = report.findings
    rows = [
        "| fault (kill -9) | accepted during | refused / busy / unreachable / unknown during | time to recover | lost "
        "| duplicated |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for fault in report.faults:
        told = report.told_during(fault)
        seconds = "not recovered" if fault.seconds is None else f"{fault.seconds:.1f} s"
        rows.append(
            f"| {fault.name} | {report.accepted_during(fault)} | {told['refused']} / {told['busy']} / "
            f"{told['unreachable']} / {told['unknown']} | {seconds} | {f.count('lost', fault.within)} | "
            f"{f.count('duplicated', fault.within)} |"
        )
    rows.append(
        f"| **whole run** | {sum(1 for a in report.ledger.answers if a.outcome == 'accepted')} | "
        f"{f.outcomes['refused']} / {f.outcomes['busy']} / {f.outcomes['unreachable']} / {f.outcomes['unknown']} "
        "(final) | — | "
        f"{f.count('lost')} | {f.count('duplicated')} |"
    )
    return "\n".join(rows)


def summary(report: ChaosReport) -> str:
    f = report.findings
    restarts = ", ".join(f"{k} {v}" for k, v in sorted(report.restarts.items())) or "none"
    verdict = "PASSED" if report.ok else "FAILED"
    reasons = Counter(
        f"{a.status} {re.sub(r'chaos-[0-9a-f]{12}', 'R', a.detail.split(';')[0])[:70]}"
        for a in report.ledger.final().values()
        if a.outcome == "refused"
    )
    refused = "; ".join(f"{n} x {why}" for why, n in reasons.most_common(3)) or "none"
    lines = [
        f"- size **{report.plan.name}**: {report.plan.lanes} relationships under load at once, "
        f"{len(report.ledger.relationships)} relationships in all, {len(report.ledger.final())} "
        f"command ids, {len(report.ledger.answers)} answers, {f.events} events; run took {report.seconds:.0f} s "
        f"(start-up {report.startup_seconds:.0f} s, "
        f"proof {report.proof_seconds:.0f} s)",
        f"- unknown outcomes resolved by re-sending the same command id: {f.resolved_unknown}; "
        f"told wrong (refused/busy but applied, or never resolved): {f.count('mismatch')}",
        f"- three-way verification (event log x topic x Temporal history, with replay): {f.verified} relationships, "
        f"{len(f.verify_failed)} failed, {f.verify_warnings} warnings",
        f"- refusals (the domain's answers, mostly relationships their timers had moved on): {refused}",
        f"- relationships not drained (published and projected) at the end: {len(report.undrained)}",
        f"- app processes the supervisor restarted after they exited on their own: {restarts}",
        *[f"  - {name}'s last exit: `{line}`" for name, line in sorted(report.exits.items())],
        f"- verdict: **{verdict}**",
    ]
    return "\n".join(lines)


def render(report: ChaosReport, ran_on: str | None = None) -> str:
    """``ran_on``: the commit read when the run began (the tree may change while it runs)."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = f"Ran {when} on commit `{ran_on or commit()}` (`make chaos`, size {report.plan.name})."
    return f"{head}\n\n{table(report)}\n\n{summary(report)}\n"


def write_docs(report: ChaosReport, path: Path, ran_on: str | None = None) -> None:
    text = path.read_text() if path.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    block = f"{BEGIN}\n{render(report, ran_on)}{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text += f"\n{block}\n"
    path.write_text(text)


def details(report: ChaosReport, limit: int = 20) -> str:
    lines = [f"{p.kind}: {p.relationship_id} {p.command_id}: {p.detail}" for p in report.findings.problems[:limit]]
    lines += [f"verify failed: {v[:400]}" for v in report.findings.verify_failed[:limit]]
    lines += [f"not drained: {r}" for r in report.undrained[:limit]]
    return "\n".join(lines)
