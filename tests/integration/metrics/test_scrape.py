"""Each process's /metrics after a few commands (issue 18): worker, projector and API run as real processes
(``mentorflow worker|projector|api``) on their own run dir, topic prefix, task queue and ports; the test sends
commands over HTTP and scrapes the three endpoints (and the Temporal SDK's) until the figures settle."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from projections.topics import events_topic, projector_group
from tests.e2e.conftest import free_port, isolated_env, mentorflow
from workers.services.process import log_file, spawn, stop, tail
from workers.settings import Settings

pytestmark = pytest.mark.timeout(240)

MANAGER_TOKEN = f"metrics-manager-{secrets.token_urlsafe(24)}"  # the API refuses weak tokens at start-up
MENTOR_TOKEN = f"metrics-mentor-{secrets.token_urlsafe(24)}"
TOKENS = {MANAGER_TOKEN: "manager:metrics-manager", MENTOR_TOKEN: "participant:m-mona"}
PROCESSES = ("worker", "projector", "api")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Endpoints:
    api: str
    worker: str
    sdk: str
    projector: str
    run_dir: Path
    topic: str
    partitions: int
    env: dict[str, str]

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{tail(log_file(self.run_dir, n), 30)}" for n in PROCESSES)


def scrape(url: str) -> Samples:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def eventually(endpoints: Endpoints, what: str, check: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not hold within {seconds:g} s\n{endpoints.logs()}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def endpoints(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    run_dir = tmp_path_factory.mktemp("metrics-run")
    api_port, worker_port, sdk_port, projector_port = (free_port() for _ in range(4))
    env = {
        **os.environ,
        **isolated_env(run_dir, api_port, TOKENS),
        "MENTORFLOW_METRICS__WORKER_PORT": str(worker_port),
        "MENTORFLOW_METRICS__WORKER_SDK_PORT": str(sdk_port),
        "MENTORFLOW_METRICS__PROJECTOR_PORT": str(projector_port),
        "MENTORFLOW_METRICS__SAMPLE_SECONDS": "1",
    }
    mf = mentorflow()
    argv = {"worker": [*mf, "worker"], "projector": [*mf, "projector"], "api": [*mf, "api"]}
    for name in PROCESSES:
        spawn(run_dir, name, argv[name], env=env)
    found = Endpoints(
        api=f"http://127.0.0.1:{api_port}",
        worker=f"http://127.0.0.1:{worker_port}/metrics",
        sdk=f"http://127.0.0.1:{sdk_port}/metrics",
        projector=f"http://127.0.0.1:{projector_port}/metrics",
        run_dir=run_dir,
        topic=events_topic(env["MENTORFLOW_KAFKA__TOPIC_PREFIX"]),
        partitions=stack.kafka.partitions,
        env=env,
    )
    try:
        for url in (f"{found.api}/healthz", found.worker, found.sdk, found.projector):

            def answers(url: str = url) -> bool:
                try:
                    return httpx.get(url, timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            eventually(found, f"{url} answering", answers, seconds=60)
        yield found
    finally:
        for name in PROCESSES:
            stop(run_dir, name)


def test_each_process_serves_the_named_series(endpoints: Endpoints) -> None:
    program = f"metrics-{uuid.uuid4().hex[:6]}"
    rid = f"{program}-r1"
    manager = httpx.Client(base_url=endpoints.api, headers={"Authorization": f"Bearer {MANAGER_TOKEN}"}, timeout=60)
    mentor = httpx.Client(base_url=endpoints.api, headers={"Authorization": f"Bearer {MENTOR_TOKEN}"}, timeout=60)
    proposed = manager.post(
        "/relationships",
        json={
            "relationship_id": rid,
            "program_id": program,
            "mentor_id": "m-mona",
            "mentee_id": "m-eli",
            "policy": "mentoring-12m",
        },
    )
    assert proposed.status_code == 201, proposed.text
    assert mentor.post(f"/relationships/{rid}/commands/accept-match").status_code == 200
    # two refusals by the workflow's rules: accepting twice, signing before both accepted
    assert mentor.post(f"/relationships/{rid}/commands/accept-match").status_code == 422
    signed = mentor.post(f"/relationships/{rid}/commands/sign-agreement", json={"goals": ["g"], "cadence": "P2W"})
    assert signed.status_code == 409, signed.text
    seq = int(manager.get(f"/relationships/{rid}").json()["seq"])
    assert seq >= 2

    # API: commands accepted and refused by type, exactly what was sent
    api = scrape(f"{endpoints.api}/metrics")
    assert value(api, "mentorflow_commands_total", command="ProposeRelationship", outcome="accepted") == 1
    assert value(api, "mentorflow_commands_total", command="AcceptMatch", outcome="accepted") == 1
    assert value(api, "mentorflow_commands_total", command="AcceptMatch", outcome="refused") == 1
    assert value(api, "mentorflow_commands_total", command="SignAgreement", outcome="refused") == 1
    assert value(api, "mentorflow_commands_total", command="SignAgreement", outcome="accepted") == 0
    assert sum(series(api, "mentorflow_commands_total").values()) == 4

    # every event published (the counters count acknowledged envelopes): the proposal by the worker's activity, the
    # accepted command by the API itself (it publishes its commands' envelopes, the workflow confirms and drops them);
    # the outbox drains to 0
    def published_and_settled() -> bool:
        w, a = scrape(endpoints.worker), scrape(f"{endpoints.api}/metrics")
        published = [value(m, "mentorflow_published_events_total") or 0 for m in (w, a)]
        return (
            sum(published) >= seq
            and min(published) >= 1
            and (value(w, "mentorflow_outbox_sampled_workflows") or 0) >= 1
            and value(w, "mentorflow_outbox_depth") == 0
        )

    eventually(endpoints, "worker + API: published >= seq, outbox sampled and empty", published_and_settled)
    w, api = scrape(endpoints.worker), scrape(f"{endpoints.api}/metrics")
    assert (value(w, "mentorflow_publish_seconds_count", outcome="published") or 0) >= 1
    assert (value(api, "mentorflow_publish_seconds_count", outcome="published") or 0) >= 1
    assert value(api, "mentorflow_publish_seconds_count", outcome="failed") == 0
    assert value(w, "mentorflow_outbox_oldest_age_seconds") == 0
    assert value(w, "mentorflow_outbox_unanswered_workflows") == 0
    # the Temporal SDK's own runtime metrics, from the same process on its own port
    sdk = scrape(endpoints.sdk)
    names = {name for name, _ in sdk}
    assert any(n.startswith("temporal_workflow_task_execution_latency") for n in names), sorted(names)[:40]
    assert any(n.startswith("temporal_activity_execution_latency") for n in names), sorted(names)[:40]

    # projector: every event applied exactly once, lag back to 0 on every partition, the read model's gauge
    def projector_settled() -> bool:
        p = scrape(endpoints.projector)
        lag = series(p, "mentorflow_projector_lag")
        return value(p, "mentorflow_projector_events_applied_total") == seq and bool(lag) and set(lag.values()) == {0}

    eventually(endpoints, "projector: applied == seq and lag 0 on every partition", projector_settled)

    def gauge_refreshed() -> bool:
        p = scrape(endpoints.projector)
        mine = {
            dict(k)["stage"]: v for k, v in series(p, "mentorflow_relationships").items() if ("program", program) in k
        }
        return mine == {"initiation": 1}

    eventually(endpoints, "projector: relationships{program, stage} == 1 in initiation", gauge_refreshed)
    p = scrape(endpoints.projector)
    for alarm in ("gaps", "conflicts", "dead_letters", "poison"):
        assert value(p, f"mentorflow_projector_{alarm}_total") == 0, alarm
    lag = series(p, "mentorflow_projector_lag")  # one series per partition of the topic, none per relationship
    assert sorted(dict(k)["partition"] for k in lag) == [str(i) for i in range(endpoints.partitions)], lag
    assert {dict(k)["topic"] for k in lag} == {endpoints.topic}


def test_services_status_shows_consumer_lag_and_the_outbox(endpoints: Endpoints) -> None:
    program = f"status-{uuid.uuid4().hex[:6]}"
    manager = httpx.Client(base_url=endpoints.api, headers={"Authorization": f"Bearer {MANAGER_TOKEN}"}, timeout=60)
    body = {"program_id": program, "mentor_id": "m-mona", "mentee_id": "m-eli", "policy": "mentoring-12m"}
    for n in range(3):
        created = manager.post("/relationships", json={**body, "relationship_id": f"{program}-r{n}"})
        assert created.status_code == 201, created.text

    def status() -> dict[str, dict[str, Any]]:
        done = subprocess.run(
            [*mentorflow(), "services", "status", "--json"],
            env=endpoints.env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 0, done.stderr
        return {entry["name"]: entry for entry in json.loads(done.stdout)}

    def settled() -> bool:
        found = status()
        groups = [g for g in found["kafka"]["consumer_groups"] if g["topic"] == endpoints.topic]
        outbox = found["temporal"]["outbox"]
        return (
            [g["group"] for g in groups] == [projector_group(endpoints.env["MENTORFLOW_KAFKA__TOPIC_PREFIX"])]
            and groups[0]["lag"] == 0
            and outbox["sampled"] >= 3
            and outbox["depth"] == 0
        )

    eventually(endpoints, "services status: the projector's group at lag 0, three outboxes sampled and empty", settled)
    found = status()
    group = next(g for g in found["kafka"]["consumer_groups"] if g["topic"] == endpoints.topic)
    assert set(group["partitions"].values()) == {0} and group["partitions"]  # partitions it has committed on
    assert found["temporal"]["outbox"]["oldest_age_seconds"] is None
    # the keys that were there before are still there (add, never rename)
    assert {"name", "address", "healthy", "pid", "managed", "detail", "wedged_workflows"} <= set(found["temporal"])
