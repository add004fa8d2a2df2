"""Prometheus metrics of the three long-running processes (docs/operations.md).

Everything that knows ``prometheus_client`` lives here, in the composition root: the layers below expose plain
callbacks (``KafkaPublisher(observer=...)``, ``MentorflowClient(on_command=...)``) and counters
(``Projector.metrics``, ``Projector.lag()``), and these modules turn them into series. Each process has its own
:class:`~prometheus_client.CollectorRegistry`. No label carries a relationship id: label values are command types,
outcomes, partitions, programs, stages and health values, all bounded.
"""

from workers.metrics.common import serve_registry
from workers.metrics.process_api import ApiMetrics
from workers.metrics.process_projector import ProjectorCollector, ProjectorGauges, sample_projector
from workers.metrics.process_worker import WorkerMetrics, sdk_runtime

__all__ = [
    "ApiMetrics",
    "ProjectorCollector",
    "ProjectorGauges",
    "WorkerMetrics",
    "sample_projector",
    "sdk_runtime",
    "serve_registry",
]
