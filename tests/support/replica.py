"""A real streaming replica of the private cluster, made by pg_basebackup, for the length of a test."""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from twin.platform import cluster as cluster_module
from twin.platform.cluster import Cluster, ClusterInfo, PgInstall, find_pg_install
from twin.platform.settings import Settings


@dataclass(frozen=True)
class StreamingReplica:
    cluster: Cluster
    install: PgInstall
    primary: ClusterInfo
    data_dir: Path
    port: int

    def url(self, database: str) -> str:
        """The replica's URL (the primary's user and password: a base backup copies the roles)."""
        return f"postgresql://{self.primary.user}:{self.primary.password}@127.0.0.1:{self.port}/{database}"

    def execute(self, statement: str) -> object:
        """One statement on the replica, as the superuser; its first value."""
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(statement).fetchone()  # type: ignore[arg-type]
            return None if row is None else row[0]

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "immediate")

    def _pg_ctl(self, *args: str) -> None:
        log = self.data_dir.parent / "replica.log"
        command = [self.install.tool("pg_ctl"), "-D", str(self.data_dir), "-l", str(log), "-w", "-t", "60"]
        result = self.cluster._run_as_owner([*command, *args])
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl {args[0]} failed: {result.stderr or result.stdout}\n{tail}")


@contextmanager
def streaming_replica(settings: Settings, name: str) -> Iterator[StreamingReplica]:
    """A hot standby of the private cluster on a free port, streaming from it; stopped and deleted
    afterwards. Its folder sits next to the cluster's, where the postgres user (as root) can reach it."""
    cluster = Cluster(settings)
    primary, install = cluster.info(), find_pg_install()
    assert primary is not None, "the private cluster is not set up"
    assert install is not None, "PostgreSQL is not installed"
    _allow_replication(primary)
    root = primary.root.with_name(f"{primary.root.name}-{name}")
    _remove(cluster, install, root)  # left behind by a run that was killed
    root.mkdir(mode=0o700, parents=True)
    if os.geteuid() == 0:
        cluster_module._chown_to_postgres(root)
    replica = StreamingReplica(cluster, install, primary, root / "data", _free_port())
    try:
        backup = [
            install.tool("pg_basebackup"),
            *("-D", str(replica.data_dir), "-R", "-X", "stream", "-c", "fast"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", primary.user),
        ]
        done = cluster._run_as_owner(backup, env={**os.environ, "PGPASSWORD": primary.password})
        if done.returncode != 0:
            raise RuntimeError(f"pg_basebackup failed: {done.stderr.strip()[-800:]}")
        # postgresql.auto.conf is read last: its port wins over the copied twin.conf.
        with (replica.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {replica.port}\n")
        replica._pg_ctl("start")
        _wait_until_hot(replica)
        yield replica
    finally:
        _remove(cluster, install, root)


def _allow_replication(primary: ClusterInfo) -> None:
    """initdb's pg_hba.conf lets the cluster's users stream over 127.0.0.1; a cluster whose file was
    edited gets the line back (and a reload)."""
    hba = primary.data_dir / "pg_hba.conf"
    for line in hba.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if (
            len(fields) >= 4
            and fields[:2] == ["host", "replication"]
            and fields[2] in ("all", primary.user)
            and fields[3] in ("127.0.0.1/32", "all", "samehost")
        ):
            return
    with hba.open("a") as conf:
        conf.write(f"host replication {primary.user} 127.0.0.1/32 scram-sha-256\n")
    with psycopg.connect(primary.url("postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_reload_conf()")


def _wait_until_hot(replica: StreamingReplica, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if replica.execute("SELECT pg_is_in_recovery()") is True:
                return
        except psycopg.OperationalError:
            pass
        assert time.monotonic() < deadline, "the replica did not accept connections in time"
        time.sleep(0.2)


def _remove(cluster: Cluster, install: PgInstall, root: Path) -> None:
    data = root / "data"
    if (data / "postmaster.pid").exists():
        cluster._run_as_owner([install.tool("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
