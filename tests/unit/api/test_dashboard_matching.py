"""The dashboard's matching panels: the bars are the numbers of ``report matching`` (funnel from enrollment, side
exits and unmatched, outcomes by method and by score band, capacity use), and ``/dashboard/data`` carries them for a
program (an unknown program or all programs: empty panels, never an error)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.dashboard.matching import matching_bars, matching_panels
from tests.unit.api import test_programs
from tests.unit.api.conftest import bearer

program = test_programs.program  # the fixture: p1 with mona (mentor, capacity 2) and zed (mentee)


def _outcome(key: str, name: str, n: int, pct: float) -> dict[str, Any]:
    return {key: name, "relationships": n, "completed_pct": pct, "accepted": n, "side_exits": 0, "open": 0}


REPORT: dict[str, Any] = {
    "program": "p",
    "funnel": {
        "enrolled": 10, "matched": 8, "accepted": 7, "kicked_off": 6, "cultivation": 5, "completed": 3,
        "withdrawn": 1, "unmatched": 2, "unmatched_reasons": {"no_feasible_mentor": 1, "not_in_a_round": 1},
        "side_exits": {"declined": 1, "expired": 0, "did_not_start": 0, "terminated": 0, "rematched": 1},
    },
    "by_method": [_outcome("match_method", "admin", 2, 50.0), _outcome("match_method", "algorithmic", 6, 33.3)],
    "by_score_band": [_outcome("band", "10-15", 8, 37.5)],
    "capacity": [
        {"mentor": "ana", "capacity": 2, "open": 1, "free": 1, "relationships": 3},
        {"mentor": "carl", "capacity": 1, "open": 1, "free": 0, "relationships": 1},
    ],
}  # fmt: skip


def test_the_bars_are_the_reports_numbers() -> None:
    bars = matching_bars(REPORT)
    assert bars["funnel"] == [
        ("enrolled", 10), ("matched", 8), ("accepted", 7), ("kicked_off", 6), ("cultivation", 5), ("completed", 3)
    ]  # fmt: skip
    assert bars["exits"] == [
        ("declined", 1), ("rematched", 1), ("withdrawn", 1), ("unmatched: no_feasible_mentor", 1),
        ("unmatched: not_in_a_round", 1),
    ]  # fmt: skip
    assert bars["by_method"] == [("admin (n=2)", 50.0), ("algorithmic (n=6)", 33.3)]
    assert bars["by_band"] == [("10-15 (n=8)", 37.5)]
    assert bars["capacity"] == [("ana 1/2", 50.0), ("carl 1/1", 100.0)]
    svg = matching_panels(REPORT)
    assert 'data-label="kicked_off" data-value="6"' in svg["matching-funnel"]
    assert 'data-label="carl 1/1" data-value="100"' in svg["capacity-use"]
    assert 'id="chart-by-band"' in svg["by-band"]


def test_without_a_program_every_panel_says_to_choose_one() -> None:
    assert all(v == [] for v in matching_bars(None).values())
    for svg in matching_panels(None).values():
        assert "(choose a program)" in svg and "no data yet" in svg


def test_the_dashboard_data_carries_the_programs_matching_report(client: TestClient, program: str) -> None:
    data = client.get(f"/dashboard/data?program={program}", headers=bearer("t-auditor")).json()
    assert data["matching"]["funnel"]["enrolled"] == 1
    assert 'data-label="enrolled" data-value="1"' in data["svg"]["matching-funnel"]
    assert 'data-label="mona 0/2" data-value="0"' in data["svg"]["capacity-use"]
    assert 'data-label="unmatched: not_in_a_round" data-value="1"' in data["svg"]["matching-exits"]
    for query in ("", "?program=not-a-program"):
        other = client.get(f"/dashboard/data{query}", headers=bearer("t-manager"))
        assert other.status_code == 200, other.text
        assert other.json()["matching"] is None and "(choose a program)" in other.json()["svg"]["by-method"]


def test_the_page_has_a_place_for_every_matching_chart(client: TestClient) -> None:
    page = client.get("/dashboard").text
    for key in matching_panels(None):
        assert f'id="svg-{key}"' in page and f'"{key}"' in page
