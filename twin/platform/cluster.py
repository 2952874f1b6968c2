"""The twin's own PostGIS cluster: initdb + pg_ctl from the system's PostgreSQL binaries.

Used when ``DATABASE_URL`` is unset. The cluster lives in a project folder (``TWIN_HOME/pg``), listens
on 127.0.0.1 only at its own port, and is marked as ours: nothing here ever starts, stops or changes
a cluster that this module did not create.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from twin.core.errors import ClusterError
from twin.platform.settings import Settings

MARKER = "CREATED_BY_LOZENETS_TWIN"
SUPERUSER = "twin"
_DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
_DEBIAN_PG_SHARE = Path("/usr/share/postgresql")


@dataclass(frozen=True)
class PgInstall:
    major: int
    bindir: Path
    extension_dir: Path

    @property
    def has_postgis(self) -> bool:
        return (self.extension_dir / "postgis.control").exists()

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def find_pg_install() -> PgInstall | None:
    """The newest PostgreSQL server installed: Debian's layout first, then whatever pg_config names."""
    candidates: list[PgInstall] = []
    if _DEBIAN_PG_ROOT.is_dir():
        for entry in _DEBIAN_PG_ROOT.iterdir():
            if entry.name.isdigit() and (entry / "bin" / "initdb").exists():
                major = int(entry.name)
                candidates.append(
                    PgInstall(major, entry / "bin", _DEBIAN_PG_SHARE / entry.name / "extension")
                )
    if not candidates and (pg_config := shutil.which("pg_config")):
        out = subprocess.run(
            [pg_config, "--bindir", "--sharedir", "--version"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split("\n")
        match = re.search(r"(\d+)", out[2] if len(out) > 2 else "")
        if match and (Path(out[0]) / "initdb").exists():
            candidates.append(PgInstall(int(match.group(1)), Path(out[0]), Path(out[1]) / "extension"))
    return max(candidates, key=lambda c: c.major, default=None)


def _is_root() -> bool:
    return os.geteuid() == 0


Log = Callable[[str], None]


def _no_log(message: str) -> None:
    pass


def _apt_install(packages: list[str], log: Log) -> None:
    log(f"installing Debian packages: {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ClusterError(
                f"`{' '.join(cmd)}` failed (exit {result.returncode}): {result.stderr.strip()[-800:]}"
            )


def ensure_postgis_installed(log: Log = _no_log) -> PgInstall:
    """PostgreSQL and PostGIS, installed from Debian's packages when missing and we are root."""
    install = find_pg_install()
    has_apt = shutil.which("apt-get") is not None
    if install is None:
        if not (_is_root() and has_apt):
            raise ClusterError(
                "PostgreSQL is not installed. Install it with `sudo apt-get install postgresql`, then "
                "`sudo apt-get install postgresql-N-postgis-3` with N its major version (15 on Debian 12, "
                "17 on Debian 13), or set DATABASE_URL to an existing PostGIS database."
            )
        # Debian's postgresql package would also create and start a cluster of its own on port 5432;
        # the twin only wants the binaries.
        conf_dir = Path("/etc/postgresql-common/createcluster.d")
        conf_dir.mkdir(parents=True, exist_ok=True)
        (conf_dir / "lozenets-twin.conf").write_text("create_main_cluster = false\n")
        _apt_install(["postgresql"], log)
        install = find_pg_install()
        if install is None:
            raise ClusterError("apt-get installed postgresql, but no initdb was found afterwards")
    if not install.has_postgis:
        package = f"postgresql-{install.major}-postgis-3"
        if not (_is_root() and has_apt):
            raise ClusterError(
                f"PostGIS is missing for PostgreSQL {install.major}. Install it with "
                f"`sudo apt-get install {package}`, or set DATABASE_URL to an existing PostGIS database."
            )
        _apt_install([package], log)
        if not install.has_postgis:
            raise ClusterError(f"apt-get installed {package}, but postgis.control is still missing")
    return install


@dataclass(frozen=True)
class ClusterInfo:
    """What `twin db up` wrote down about the cluster; read by every later command."""

    root: Path
    port: int
    user: str
    password: str
    major: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"


class Cluster:
    """The private cluster of one project checkout."""

    def __init__(self, settings: Settings, log: Log = _no_log) -> None:
        self.settings = settings
        self.log = log
        self.info_file = settings.home / "cluster.json"

    # -- state ---------------------------------------------------------------------------------
    def info(self) -> ClusterInfo | None:
        if not self.info_file.exists():
            return None
        raw = json.loads(self.info_file.read_text())
        return ClusterInfo(
            root=Path(raw["root"]),
            port=int(raw["port"]),
            user=raw["user"],
            password=raw["password"],
            major=int(raw["major"]),
        )

    def _write_info(self, info: ClusterInfo) -> None:
        self.info_file.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "root": str(info.root),
            "port": info.port,
            "user": info.user,
            "password": info.password,
            "major": info.major,
        }
        tmp = self.info_file.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(self.info_file)

    def _is_ours(self, root: Path) -> bool:
        return (root / MARKER).exists() and (root / "data" / "PG_VERSION").exists()

    def _run_as_owner(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        """PostgreSQL refuses to run as root; as root we run its tools as the `postgres` user."""
        if _is_root():
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload,no-any-return]

    def is_running(self) -> bool:
        """True only when a postmaster serves *this* data folder: a stale postmaster.pid whose
        PID now belongs to another process (after a crash or reboot) does not count."""
        info = self.info()
        if info is None or not self._is_ours(info.root):
            return False
        return _postmaster_pid(info.data_dir) is not None

    # -- lifecycle -----------------------------------------------------------------------------
    def up(self) -> ClusterInfo:
        """Install what is missing, create the cluster once, start it, and create the database."""
        install = ensure_postgis_installed(self.log)
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with (self.settings.home / "cluster.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two `db up` at once (make -j, two terminals) init once
            return self._up_locked(install)

    def _up_locked(self, install: PgInstall) -> ClusterInfo:
        info = self.info()
        if info is None or not self._is_ours(info.root):
            info = self._init(install)
        elif info.major != install.major:
            raise ClusterError(
                f"the private cluster at {info.root} was made by PostgreSQL {info.major}, but "
                f"{install.major} is installed now; run `twin db destroy` to start afresh"
            )
        running = self.is_running()
        if not running:
            port = self._choose_port(info.port)
            if port != info.port:
                info = ClusterInfo(info.root, port, info.user, info.password, info.major)
                self._write_info(info)
            self._write_conf(info)
            self._start(install, info)
        self._create_database(info, self.settings.db_name)
        return info

    def down(self) -> bool:
        """Stop the cluster if it runs. Returns whether it was running."""
        info = self.info()
        if info is None:
            return False
        if not self._is_ours(info.root):
            raise ClusterError(f"{info.root} is not a cluster this project created; not touching it")
        install = find_pg_install()
        if install is None or _postmaster_pid(info.data_dir) is None:
            return False
        result = self._run_as_owner(
            [
                install.tool("pg_ctl"),
                "stop",
                "-D",
                str(info.data_dir),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
            ]
        )
        if result.returncode != 0:
            raise ClusterError(f"pg_ctl stop failed: {result.stderr.strip() or result.stdout.strip()}")
        return True

    def destroy(self) -> None:
        """Stop and delete the cluster (only ever one this project created)."""
        info = self.info()
        if info is None:
            return
        self.down()
        if self._is_ours(info.root):
            # Only what `db up` made: the folder may hold other things if TWIN_PG_DIR named it.
            shutil.rmtree(info.data_dir)
            for name in (MARKER, "postgres.log", "initdb.pw"):
                (info.root / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                info.root.rmdir()
        self.info_file.unlink(missing_ok=True)

    def status(self) -> dict[str, object]:
        info = self.info()
        return {
            "initialised": info is not None and self._is_ours(info.root),
            "running": self.is_running(),
            "root": str(info.root) if info else None,
            "port": info.port if info else self.settings.pg_port,
            "postgresql": info.major if info else None,
        }

    # -- internals -----------------------------------------------------------------------------
    def _choose_root(self) -> Path:
        root = self.settings.pg_dir or self.settings.home / "pg"
        if not _is_root() or _postgres_can_reach(root):
            return root
        # The checkout sits where the postgres user cannot reach (e.g. under /root). Keep the cluster
        # under a folder only root may write (never /tmp: another user could plant a link there),
        # named after the checkout so that two checkouts never share one.
        digest = hashlib.sha256(str(self.settings.home).encode()).hexdigest()[:12]
        base = Path("/var/lib/lozenets-twin")
        base.mkdir(mode=0o755, exist_ok=True)
        stat = base.lstat()
        if base.is_symlink() or stat.st_uid != 0 or stat.st_mode & 0o022:
            raise ClusterError(f"{base} must be a root-owned folder that only root can write")
        fallback = base / digest
        self.log(f"the postgres user cannot reach {root}; using {fallback}")
        return fallback

    def _choose_port(self, recorded: int) -> int:
        """The configured port when set explicitly (taken -> error); otherwise the recorded or default
        port, or the next free one, so that a second checkout on the same machine just works."""
        if "pg_port" in self.settings.model_fields_set:
            if _port_in_use(self.settings.pg_port):
                raise ClusterError(
                    f"port {self.settings.pg_port} on 127.0.0.1 is taken by another program; "
                    "set TWIN_PG_PORT to a free port"
                )
            return self.settings.pg_port
        for port in (recorded, *range(self.settings.pg_port, self.settings.pg_port + 50)):
            if not _port_in_use(port):
                if port != recorded:
                    self.log(f"port {recorded} is taken; the private cluster will use {port}")
                return int(port)
        raise ClusterError(f"no free port near {self.settings.pg_port}; set TWIN_PG_PORT")

    def _init(self, install: PgInstall) -> ClusterInfo:
        root = self._choose_root()
        data_dir = root / "data"
        leftovers = {MARKER, "initdb.pw"}  # from an initdb that failed half-way
        if root.is_symlink() or (root.exists() and any(p.name not in leftovers for p in root.iterdir())):
            raise ClusterError(
                f"{root} is not empty and is not a cluster this project created; move it away or set "
                "TWIN_PG_DIR to a new or empty folder"
            )
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)
        (root / MARKER).write_text("This PostgreSQL cluster was created by Lozenets Twin (`twin db up`).\n")
        password = secrets.token_urlsafe(24)
        pwfile = root / "initdb.pw"
        pwfile.touch(mode=0o600)
        pwfile.write_text(password + "\n")
        if _is_root():
            _chown_to_postgres(root)
            _chown_to_postgres(pwfile)
        self.log(f"creating the private PostGIS cluster in {root}")
        try:
            result = self._run_as_owner(
                [
                    install.tool("initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(data_dir, ignore_errors=True)
            raise ClusterError(f"initdb failed: {result.stderr.strip()[-800:]}")
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'twin.conf'\n")
        info = ClusterInfo(root, self.settings.pg_port, SUPERUSER, password, install.major)
        self._write_info(info)
        return info

    def _write_conf(self, info: ClusterInfo) -> None:
        conf = info.data_dir / "twin.conf"
        conf.write_text(
            "# Written by `twin db up` on every start; edit the TWIN_PG_* settings instead.\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {info.port}\n"
            "unix_socket_directories = ''\n"
            "max_connections = 200\n"
            "shared_buffers = 256MB\n"
            "work_mem = 32MB\n"
            "maintenance_work_mem = 256MB\n"
            # Losing the last fraction of a second of commits after a crash is acceptable for a
            # rebuildable twin; corruption is not, so fsync stays on.
            "synchronous_commit = off\n"
            "jit = off\n"
        )
        if _is_root():
            _chown_to_postgres(conf)

    def _start(self, install: PgInstall, info: ClusterInfo) -> None:
        log_file = info.root / "postgres.log"
        self.log(f"starting PostgreSQL {info.major} on 127.0.0.1:{info.port}")
        result = self._run_as_owner(
            [
                install.tool("pg_ctl"),
                "start",
                "-D",
                str(info.data_dir),
                "-l",
                str(log_file),
                "-w",
                "-t",
                "60",
            ]
        )
        if result.returncode != 0:
            tail = log_file.read_text(errors="replace")[-1500:] if log_file.exists() else ""
            raise ClusterError(f"pg_ctl start failed: {result.stderr.strip()}\n{tail}")

    def _create_database(self, info: ClusterInfo, name: str) -> None:
        create_database(info.url("postgres"), name)


def create_database(admin_url: str, name: str, *, drop_first: bool = False) -> None:
    """Create database `name` (optionally dropping it first) through a maintenance connection."""
    import psycopg
    from psycopg import sql

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ClusterError(f"invalid database name {name!r}")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        if drop_first:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _chown_to_postgres(path: Path) -> None:
    entry = pwd.getpwnam("postgres")
    os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _postgres_can_reach(root: Path) -> bool:
    """Whether the postgres user could create and use `root` (every parent traversable, the
    nearest existing one writable)."""
    existing = root
    while not existing.exists():
        existing = existing.parent
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-w", str(existing), "-a", "-x", str(existing)],
        check=False,
    )
    if probe.returncode == 0:
        return True
    # Not writable by postgres, but root can create the folder and hand it over if it can traverse.
    parent_ok = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(existing)], check=False)
    return parent_ok.returncode == 0


def _postmaster_pid(data_dir: Path) -> int | None:
    """The PID of the postmaster serving `data_dir`, or None (no pid file, or a stale one)."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    try:
        if Path(f"/proc/{pid}/cwd").resolve() != data_dir.resolve():
            return None
    except OSError:
        return None
    return pid


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
