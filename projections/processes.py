"""Work in a second process (the machine has two cores), for the bulk readers: the rebuild's decode process
(:mod:`projections.pipeline`) and ``audit verify --all``'s scan process (:mod:`audit.scan`). Lean on purpose: a
spawned child imports this module and its work's module, nothing else.

* :func:`child_process` spawns ``work(*args, out)`` (a coroutine function, defined in an importable module: the
  parent's ``__main__`` is not imported in the child) under :func:`fewer_collections`; the child
  speaks only through :func:`send` on a one-way pipe, whose buffer is the bounded queue (a send blocks while it is
  full); every outcome ends in one last item, ``("done", None)`` or ``("error", text)``.
* :func:`receive` gives the parent the next item, and raises :class:`PipelineFailed` when the child died (even
  mid-message: EOF, not a hang) or sent nothing for :data:`STALL_SECONDS`. When the parent is gone, the child's next
  send fails and it ends.
* :func:`second_process_pays` is the one rule for when a second process is worth it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

__all__ = [
    "PIPELINE_MIN_MESSAGES",
    "STALL_SECONDS",
    "PipelineFailed",
    "child_main",
    "child_process",
    "fewer_collections",
    "receive",
    "second_process_pays",
    "send",
]

STALL_SECONDS = 300.0  # no item and no word from a child for this long: it is stuck


class PipelineFailed(RuntimeError):
    """A child process failed, died or stalled: the work it served stops (a rebuild before its swap)."""


# --- when a second process pays -------------------------------------------------------------------------------

PIPELINE_MIN_MESSAGES = 20_000  # below this a rebuild decodes in its own process


def second_process_pays(messages: int, at_least: int = PIPELINE_MIN_MESSAGES) -> bool:
    """The one rule for the bulk readers (the rebuild, ``audit verify --all``) when ``--processes`` is not given:
    two processes for ``at_least`` messages or more (below that, starting the process costs more than it saves),
    on two cores or more with the 1-minute load leaving one idle. Measured (benchmark 3's A/B; issue 16, notes of
    rebuild16): the second process costs more CPU per event in all than it takes off the first (a second parse, the
    pipe), so with no idle core the work is slower in two processes than in one."""
    cores = os.cpu_count() or 1
    return messages >= at_least and cores >= 2 and os.getloadavg()[0] <= cores - 1


_THRESHOLDS = (50_000, 50, 100)  # young collections every 50,000 allocations, not 700: a batch makes a million


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """The collector tuned for a bulk load: what exists now is frozen (never traversed again) and young collections
    run seldom. Decoding allocates many small containers and few cycles, and every collection of the default
    thresholds traversed the whole batch: about a third of the decode time (measured: issue 16, notes of rebuild16)."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def child_main(work: Callable[..., Coroutine[Any, Any, None]], args: tuple[Any, ...], out: Any) -> None:
    """A child process's entry point: ``asyncio.run(work(*args, out))`` under :func:`fewer_collections`; every
    outcome ends in one last item on ``out`` ("done" or "error"). ``work`` sends its items with :func:`send`."""
    try:
        with fewer_collections():
            asyncio.run(work(*args, out))
    except _ParentGone:
        return
    except BaseException as exc:  # reported to the parent, which fails its work
        with contextlib.suppress(_ParentGone):
            send(out, ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"))
        return
    with contextlib.suppress(_ParentGone):
        send(out, ("done", None))


class _ParentGone(Exception):
    """The parent process is gone (its end of the pipe is closed): nobody reads any more."""


def send(out: Any, item: Any) -> None:
    """Send ``item`` to the parent (a child process's only way to speak); raises when the parent is gone."""
    try:
        out.send(item)  # blocks while the pipe is full: the parent is behind
    except (BrokenPipeError, ConnectionResetError, EOFError):
        raise _ParentGone from None


def receive(items: Any, process: Any) -> Any:
    """The next item from a child process (:func:`child_process`); raises :class:`PipelineFailed` if it died or
    stalled. Only the child holds the pipe's writing end, so its death ends a message it was writing in EOF, never a
    hang."""
    deadline = time.monotonic() + STALL_SECONDS
    while True:
        if items.poll(0.5):
            try:
                return items.recv()
            except (EOFError, OSError):  # OSError: "got end of file during message" (it died mid-message)
                raise PipelineFailed(f"the {process.name} process died (exit code {_exit_code(process)})") from None
        if not process.is_alive() and not items.poll(0):
            raise PipelineFailed(f"the {process.name} process died (exit code {_exit_code(process)})")
        if time.monotonic() > deadline:
            raise PipelineFailed(f"the {process.name} process sent nothing for {STALL_SECONDS:.0f} s")


def _exit_code(process: Any) -> Any:
    process.join(1)
    return process.exitcode


@contextlib.contextmanager
def _main_not_imported() -> Iterator[None]:
    """Spawn without re-importing the parent's ``__main__`` in the child. ``spawn`` runs the main module again (as
    ``__mp_main__``) so that functions defined there can be found; ours live in modules of their own, and the
    ``mentorflow`` script's main imports the whole command line: 1.4 s of CPU per child (measured: issue 16, notes
    of verify2). Without ``__file__`` and ``__spec__`` multiprocessing has no main to re-import."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    hidden: dict[str, Any] = {k: main.__dict__.pop(k) for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        del main.__dict__["__spec__"]
        main.__dict__.update(hidden)


@contextlib.contextmanager
def child_process(
    work: Callable[..., Coroutine[Any, Any, None]], args: tuple[Any, ...], name: str
) -> Iterator[tuple[Any, Any]]:
    """A spawned process running ``work(*args, out)`` (:func:`child_main`); yields (the pipe's reading end, the
    process) for :func:`receive`. On the way out the pipe is closed (a child still sending gets a broken pipe and
    ends) and the process is terminated if it still runs."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads and an event loop
    items, sending = ctx.Pipe(duplex=False)
    process = ctx.Process(target=child_main, args=(work, args, sending), name=name, daemon=True)
    with _main_not_imported():
        process.start()
    sending.close()  # the child holds the only writing end now
    try:
        yield items, process
    finally:
        items.close()
        if process.is_alive():
            process.terminate()
        process.join(10)
