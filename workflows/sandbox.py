"""The sandbox every worker runs our workflows in: Temporal's, with the ``workflows`` package passed through.

Temporal's default sandbox imports a workflow's module afresh for every workflow run it holds, with every module that
module imports outside ``imports_passed_through`` (workflows/relationship.py imports two_loops.py and handover.py):
the bytecode is unmarshalled again, the functions, the class and its workflow definition built again. For each open
relationship in the worker's cache that was about 80 kB of Python heap (tracemalloc, 300 open: 143 kB per open
relationship, 63 kB with the package passed through, against 43 kB for the bare workflow of benchmark 5; issue 16).

Passing a module through is safe when it keeps no state of its own between runs: every module of ``workflows``
holds only constants, classes and functions (a workflow's state lives in its instance), and the decisions come from
``domain`` (passed through already). What the sandbox no longer does for these modules is replace ``datetime``,
``random`` and the like by restricted proxies; the determinism tests still run them in the default sandbox, where
such a call fails: every ``Replayer`` of the test tiers and of ``audit replay`` re-imports the workflow modules.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

__all__ = ["PASSED_THROUGH", "WORKFLOW_RUNNER", "passing_through"]

PASSED_THROUGH = ("workflows",)
"""The packages our workers do not re-import per workflow run (a package passes its submodules through too)."""


def passing_through(*modules: str) -> SandboxedWorkflowRunner:
    """Temporal's sandbox with the default restrictions, but these modules (and their submodules) imported once."""
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*modules))


WORKFLOW_RUNNER = passing_through(*PASSED_THROUGH)
"""The workflow runner of every worker of ours (``workers.worker.build_worker``, the benchmarks' worker)."""
