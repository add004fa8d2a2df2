"""The latency benchmark's knee (benchmarks/latency.py): bisected between the doubling grid's rates, so a knee ratio
is not forced to a power of two."""

from __future__ import annotations

from benchmarks.latency import KNEE_MS, Point, knee, next_refinement


def point(rate: int, p99_ms: float) -> Point:
    return Point(rate, latencies=[p99_ms / 1000] * 100, seconds=1.0)


def test_the_knee_is_the_highest_rate_under_the_threshold() -> None:
    points = [point(5, 40), point(10, 45), point(20, 300), point(40, KNEE_MS - 1)]
    assert knee(points) == 40.0
    assert knee([point(5, 900)]) == 0.0


def test_refinement_bisects_the_bracket_around_the_knee_until_it_cannot() -> None:
    points = [point(5, 40), point(10, 45), point(20, 50), point(40, 110), point(80, 1_470)]
    assert next_refinement(points) == 60
    points.append(point(60, 400))  # over: the bracket is 40..60
    assert next_refinement(points) == 50
    points.append(point(50, 200))  # under: the knee is 50, the bracket 50..60
    assert knee(points) == 50.0 and next_refinement(points) == 55
    assert next_refinement([point(5, 30), point(6, 400)]) is None  # 5.5 rounds to a rate already measured


def test_no_refinement_without_a_bracket() -> None:
    assert next_refinement([point(5, 300), point(10, 400)]) is None  # no rate under the threshold
    assert next_refinement([point(5, 30), point(10, 40)]) is None  # never over it: the grid ended first
