"""The chaos run (issue 18): steady load while ``kill -9`` hits each part of the stack, then the proof that nothing
was lost, nothing doubled and every client was told the truth. ``make chaos`` (full size) and the CI-sized run in
``tests/e2e/test_chaos.py``; docs/reliability.md holds the latest table."""
