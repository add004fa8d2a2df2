"""``python -m benchmarks.chaos [--size full|ci]`` (``make chaos``): the chaos run, its table, docs/reliability.md."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from benchmarks.chaos.report import commit, details, render, write_docs
from benchmarks.chaos.run import PLANS, run_chaos
from workers.settings import PROJECT_ROOT, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--size", choices=sorted(PLANS), default="full")
    parser.add_argument(
        "--docs", type=Path, default=PROJECT_ROOT / "docs" / "reliability.md", help="where the table is written"
    )
    parser.add_argument("--no-docs", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    base = load_settings()
    ran_on = commit()
    base.run_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chaos-", dir=base.run_dir) as tmp:
        report = asyncio.run(run_chaos(PLANS[args.size], base, Path(tmp) / "run"))
    print(render(report, ran_on))
    if not report.ok:
        print(details(report), file=sys.stderr)
    if not args.no_docs:
        write_docs(report, args.docs, ran_on)
        print(f"written to {args.docs}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
