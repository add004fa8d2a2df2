"""`make bench-smoke` in CI: every benchmark runs at tiny sizes against the real services and prints a figure AND
its ratio to the raw baseline (`python -m benchmarks --smoke`, as a subprocess, exactly as make runs it)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from workers.settings import PROJECT_ROOT

BENCHMARKS = ("throughput", "latency", "projection", "audit", "scale", "matching")
LINE = re.compile(r"^RESULT (\w+) \| (.+?) \| figure (\S+) (\S+) \| baseline (\S+) .*\| ratio (\d+\.\d+|inf)", re.M)


@pytest.mark.timeout(240)
def test_every_benchmark_prints_a_figure_and_a_ratio(stack: object, postgres_stack: object, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    printed = LINE.findall(proc.stdout)
    for name in BENCHMARKS:
        rows = [r for r in printed if r[0] == name]
        assert rows, f"{name} printed no RESULT line:\n{proc.stdout[-3000:]}"
        for _, figure_name, figure, _unit, baseline, ratio in rows:
            assert figure not in ("n/a", "") and baseline not in ("n/a", ""), (name, figure_name)
            assert float(ratio) > 0, (name, figure_name, ratio)
    data = json.loads(out.read_text())
    assert not data["failures"]
    assert {r["benchmark"] for r in data["results"]} == set(BENCHMARKS)
    assert all(r["ratio"] > 0 and r["baseline"] > 0 for r in data["results"])
    # the smoke run never overwrites the committed table
    assert "--smoke" not in (PROJECT_ROOT / "docs" / "benchmarks.md").read_text().split("<!-- notes")[0]
