"""docker-compose's Prometheus and Grafana agree with the settings and the code: the scrape targets are the metrics
ports of workers/settings.py, the app services bind them where Prometheus can reach them, and every mentorflow_*
series the provisioned dashboard plots is one the processes export."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from workers.metrics import ApiMetrics, ProjectorCollector, ProjectorGauges, WorkerMetrics
from workers.settings import PROJECT_ROOT, ApiSettings, MetricsSettings

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
PROMETHEUS = yaml.safe_load((PROJECT_ROOT / "infra/prometheus/prometheus.yml").read_text())
DASHBOARD = json.loads((PROJECT_ROOT / "infra/grafana/dashboards/mentorflow.json").read_text())


def _targets() -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for config in job["static_configs"] for t in config["targets"]]
        for job in PROMETHEUS["scrape_configs"]
    }


def test_prometheus_scrapes_each_process_on_its_settings_port() -> None:
    m, api = MetricsSettings(), ApiSettings()
    assert _targets() == {
        "mentorflow-worker": [f"worker:{m.worker_port}"],
        "mentorflow-worker-temporal-sdk": [f"worker:{m.worker_sdk_port}"],
        "mentorflow-projector": [f"projector:{m.projector_port}"],
        "mentorflow-api": [f"api:{api.port}"],
    }
    assert m.api, "the API's /metrics is on by default (the api target would answer 404 otherwise)"


def test_app_services_bind_the_metrics_ports_where_prometheus_reaches_them() -> None:
    m = MetricsSettings()
    for service in ("worker", "projector"):
        env: dict[str, Any] = COMPOSE["services"][service]["environment"]
        assert env["MENTORFLOW_METRICS__HOST"] == "0.0.0.0"
        assert int(env["MENTORFLOW_METRICS__WORKER_PORT"]) == m.worker_port
        assert int(env["MENTORFLOW_METRICS__WORKER_SDK_PORT"]) == m.worker_sdk_port
        assert int(env["MENTORFLOW_METRICS__PROJECTOR_PORT"]) == m.projector_port


def test_prometheus_and_grafana_services_mount_what_the_repo_holds() -> None:
    services = COMPOSE["services"]
    mounts = [v.split(":")[0] for name in ("prometheus", "grafana") for v in services[name]["volumes"]]
    for mount in mounts:
        assert (PROJECT_ROOT / mount).exists(), mount
    assert "127.0.0.1:9090:9090" in services["prometheus"]["ports"]
    assert "127.0.0.1:3000:3000" in services["grafana"]["ports"]
    provider = yaml.safe_load((PROJECT_ROOT / "infra/grafana/provisioning/dashboards/mentorflow.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def _exported_series() -> set[str]:
    registry = CollectorRegistry()
    registry.register(ProjectorCollector())
    ProjectorGauges(registry)
    names: set[str] = set()
    for r in (registry, WorkerMetrics().registry, ApiMetrics().registry):
        names |= {sample.name for family in r.collect() for sample in family.samples}
    return names


def test_every_mentorflow_series_on_the_dashboard_is_exported() -> None:
    exprs = [t["expr"] for panel in DASHBOARD["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\bmentorflow_[a-z_]+", expr)}
    assert used, "the dashboard plots no mentorflow series"
    exported = _exported_series()
    # gauges with labels export no sample before their first value: their family names count
    exported |= {"mentorflow_projector_lag", "mentorflow_relationships"}
    assert used <= exported, sorted(used - exported)
    titles = " ".join(panel["title"] for panel in DASHBOARD["panels"]).lower()
    for topic in ("lag", "outbox", "commands", "publish latency", "applied", "dead letters", "gaps", "stage"):
        assert topic in titles, topic
