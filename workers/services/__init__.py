"""The local stack: Temporal dev server, Kafka broker (KRaft) and an optional PostgreSQL cluster.

Each service is started from the repo's own files (PyPI wheels, Maven-resolved jars, Debian's package), keeps its
data and log under the run dir, and is tracked by a pid file so that ``down`` stops only what ``up`` started.
"""

from workers.services.stack import ServiceStatus, services_down, services_status, services_up

__all__ = ["ServiceStatus", "services_down", "services_status", "services_up"]
