"""A PostgreSQL cluster of our own, from Debian's package (installed if missing).

Where the cluster lives (initdb and the server must be able to enter every folder above its data directory):

* run as **root**, the server runs as Debian's ``postgres`` user, which cannot enter a private folder such as
  ``/root`` or a mode-700 parent of the checkout. The cluster then lives in ``/var/lib/mentorflow/<digest of the run
  dir>/`` (world-traversable base, the cluster folder owned by ``postgres``, mode 700);
* run as **any other user**, initdb and the server run as that user, under the run dir (``.run/postgres``), which
  that user can always enter.

The chosen folder is recorded in ``<run dir>/postgres-cluster`` so ``services status`` and ``services down`` find
it. A cluster an older version made under ``.run/postgres/data`` keeps being used where it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from workers.services.process import ServiceError, port_open, wait_until, write_private
from workers.settings import Settings

NAME = "postgres"
SHARED_BASE = Path("/var/lib/mentorflow")
"""Base of the clusters that Debian's ``postgres`` user runs for a root invocation (one folder per run dir)."""


def _bin_dir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return candidates[-1].parent if candidates else None


def ensure_installed() -> Path:
    """Debian's ``postgresql`` package, without the system 'main' cluster (ours lives under the run dir)."""
    found = _bin_dir()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServiceError(
            "PostgreSQL is not installed; install Debian's `postgresql` package (needs root and apt-get)"
        )
    conf = Path("/etc/postgresql-common/createcluster.conf")
    conf.parent.mkdir(parents=True, exist_ok=True)
    if not conf.exists():
        conf.write_text("create_main_cluster = false\n")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "postgresql"]):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServiceError(f"`{' '.join(argv)}` failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    found = _bin_dir()
    if not found:
        raise ServiceError("the postgresql package installed, but no initdb was found under /usr/lib/postgresql")
    return found


def _as_owner(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as Debian's `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _record(settings: Settings) -> Path:
    return settings.run_dir / "postgres-cluster"


def cluster_dir(settings: Settings) -> Path:
    """The folder holding the cluster's ``data/``, socket and log: recorded, legacy, or chosen for this user."""
    record = _record(settings)
    if record.exists():
        return Path(record.read_text().strip())
    legacy = settings.run_dir / "postgres"
    if (legacy / "data" / "PG_VERSION").exists():
        return legacy
    if os.geteuid() == 0:
        digest = hashlib.sha256(str(settings.run_dir.resolve()).encode()).hexdigest()[:16]
        return SHARED_BASE / digest
    return legacy


def _dirs(settings: Settings) -> tuple[Path, Path]:
    base = cluster_dir(settings)
    return base, base / "data"


def _prepare(base: Path) -> None:
    """Make the cluster folder; as root, hand it to ``postgres`` (mode 700) under a world-traversable base."""
    if os.geteuid() == 0 and base.is_relative_to(SHARED_BASE):
        SHARED_BASE.mkdir(parents=True, exist_ok=True)
        SHARED_BASE.chmod(0o755)
        base.mkdir(mode=0o700, exist_ok=True)
    else:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")


def _can_connect(settings: Settings, database: str = "postgres") -> bool:
    import psycopg

    pg = settings.postgres
    try:
        with psycopg.connect(
            host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=database, connect_timeout=2
        ):
            return True
    except psycopg.Error:
        return False


def healthy(settings: Settings) -> bool:
    return port_open(settings.postgres.host, settings.postgres.port) and _can_connect(settings)


def _ensure_database(settings: Settings) -> None:
    import psycopg

    pg = settings.postgres
    with psycopg.connect(
        host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (pg.database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{pg.database}"')


def start(settings: Settings) -> str:
    pg = settings.postgres
    base, data = _dirs(settings)
    if healthy(settings):
        _ensure_database(settings)
        return f"already running at {pg.host}:{pg.port}"
    if port_open(pg.host, pg.port):
        raise ServiceError(
            f"port {pg.host}:{pg.port} is taken by a PostgreSQL that refuses user {pg.user!r}; stop it or set "
            "MENTORFLOW_POSTGRES__PORT"
        )
    bin_dir = ensure_installed()
    _prepare(base)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    _record(settings).write_text(f"{base}\n")
    if not (data / "PG_VERSION").exists():
        pwfile = base / "pwfile"
        write_private(pwfile, pg.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        result = subprocess.run(
            _as_owner(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    pg.user,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ServiceError(f"initdb failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    log = log_path(settings)
    log.touch(mode=0o600)
    if os.geteuid() == 0:
        shutil.chown(log, "postgres", "postgres")
    options = f"-c listen_addresses={pg.host} -p {pg.port} -k {base} -c fsync=off -c max_connections=200"
    result = subprocess.run(
        _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(f"pg_ctl start failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}\n{log}")
    wait_until(lambda: healthy(settings), what="PostgreSQL", timeout=30, log=log)
    _ensure_database(settings)
    return f"started at {pg.host}:{pg.port} (data {data})"


def log_path(settings: Settings) -> Path:
    """The server's log, in the cluster folder (the server writes it as the cluster's owner)."""
    return cluster_dir(settings) / "postgres.log"


def running_pid(settings: Settings) -> int | None:
    """The postmaster pid of *our* cluster, from its own pid file."""
    _, data = _dirs(settings)
    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    from workers.services.process import is_alive

    return pid if is_alive(pid) else None


def stop(settings: Settings) -> bool:
    _, data = _dirs(settings)
    if running_pid(settings) is None:
        return False
    bin_dir = _bin_dir()
    if bin_dir is None:
        return False
    subprocess.run(
        _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
        capture_output=True,
        check=False,
    )
    return True
