"""The second-process machinery (``projections/processes.py``): a spawned child runs its work without importing the
parent's ``__main__`` (the ``mentorflow`` script's main imports the whole command line), and the parent's
``__main__`` is left as it was; a failing child reaches the parent as an error item; the rule's size floor."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from projections.processes import PIPELINE_MIN_MESSAGES, child_process, receive, second_process_pays


async def _fail(out: Any) -> None:
    raise ValueError("on purpose")


def test_the_child_does_not_run_the_parents_main_and_the_main_is_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "main-ran"
    script = tmp_path / "parent_main.py"  # a main script, as the mentorflow command is: spawn would run it again
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    main = sys.modules["__main__"]
    monkeypatch.setitem(main.__dict__, "__file__", str(script))
    monkeypatch.setitem(main.__dict__, "__spec__", None)
    with child_process(_fail, (), "mentorflow-test-child") as (items, process):
        assert receive(items, process)[0] == "error"
    assert not marker.exists()
    assert (main.__dict__["__file__"], main.__dict__["__spec__"]) == (str(script), None)


def test_a_failing_child_reports_its_error() -> None:
    with child_process(_fail, (), "mentorflow-test-child") as (items, process):
        kind, text = receive(items, process)
    assert kind == "error" and "ValueError: on purpose" in text


@pytest.mark.parametrize("messages", [0, PIPELINE_MIN_MESSAGES - 1])
def test_below_the_floor_one_process(messages: int) -> None:
    assert second_process_pays(messages) is False
    assert second_process_pays(10 * messages, at_least=10 * messages + 1) is False
