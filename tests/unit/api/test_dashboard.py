"""The dashboard's page and JSON over the in-memory backend; the SVG charts."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.dashboard.charts import bar_chart
from api.dashboard.data import feedback_bars, funnel_totals
from tests.unit.api.conftest import bearer, propose


def test_bar_chart_escapes_labels_and_scales_to_the_largest() -> None:
    svg = bar_chart("A <b> & c", [("x<y", 2), ("z", 4)])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "A &lt;b&gt; &amp; c" in svg and "x&lt;y" in svg and "<b>" not in svg
    assert 'data-label="z" data-value="4"' in svg
    assert "no data yet" in bar_chart("empty", [])


def test_funnel_totals_sum_the_programs() -> None:
    rows = [{"program_id": "a", "proposed": 2, "closed": 1}, {"program_id": "b", "proposed": 3, "closed": 0}]
    assert funnel_totals(rows) == {"proposed": 5, "closed": 1}


def test_feedback_bars_rate_satisfaction_and_mix() -> None:
    rows = [
        {"section": "response_rate", "instrument": "pulse", "asked": 4, "answered": 3},
        {"section": "response_rate", "instrument": "pulse", "asked": 4, "answered": 1},
        {"section": "satisfaction", "stage": "cultivation", "n": 3, "mean": 4.0},
        {"section": "satisfaction", "stage": "cultivation", "n": 1, "mean": 2.0},
        {"section": "function_mix", "stage": "cultivation", "group": "career", "share": 0.25},
    ]
    bars = feedback_bars(rows)
    assert bars["response_rates"] == [("pulse", 50.0)]
    assert bars["satisfaction"] == [("cultivation", 3.5)]
    assert bars["function_mix"] == [("cultivation career", 25.0)]
    assert 'id="chart-x"' in bar_chart("Survey response rate", bars["response_rates"], chart_id="chart-x")


def test_page_is_served_without_a_token_and_polls_the_data(client: TestClient) -> None:
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/dashboard/data" in page.text and "POLL_MS = 2000" in page.text


def test_data_shows_a_command_transition(client: TestClient) -> None:
    propose(client, "r1")
    client.post("/relationships/r1/commands/accept-match", headers=bearer("t-mentor"))
    client.post("/relationships/r1/commands/accept-match", headers=bearer("t-mentee"))
    data = client.get("/dashboard/data?program=prog", headers=bearer("t-manager")).json()
    assert data["total"] == 1
    assert [t["to_substate"] for t in data["by_command"]][:1] == ["kickoff_pending"]
    assert 'data-label="initiation" data-value="1"' in data["svg"]["stages"]
    assert client.get("/dashboard/programs", headers=bearer("t-auditor")).json() == {"programs": ["prog"]}
