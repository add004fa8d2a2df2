"""A PostgreSQL cluster of our own under the run dir, from Debian's package (installed if missing)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from workers.services.process import ServiceError, log_file, port_open, wait_until
from workers.settings import Settings

NAME = "postgres"


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


def _dirs(settings: Settings) -> tuple[Path, Path]:
    base = settings.run_dir / "postgres"
    return base, base / "data"


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
    base.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        pwfile = base / "pwfile"
        pwfile.write_text(pg.password + "\n")
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
    log = log_file(settings.run_dir, NAME)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
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
