"""The private cluster: found, reported, and never confused with somebody else's."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from twin.core.errors import ClusterError
from twin.platform import cluster as cluster_module
from twin.platform.cluster import MARKER, Cluster, PgInstall
from twin.platform.settings import Settings


def test_status_of_the_running_cluster(base_settings: Settings) -> None:
    if not base_settings.uses_private_cluster:
        pytest.skip("DATABASE_URL is set: no private cluster")
    status = Cluster(base_settings).status()
    assert status["initialised"] is True
    assert status["running"] is True
    assert status["port"] == Cluster(base_settings).info().port  # type: ignore[union-attr]
    root = Path(str(status["root"]))
    assert (root / MARKER).exists()


def test_a_foreign_cluster_is_never_touched(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    (foreign / "data").mkdir(parents=True)
    (foreign / "data" / "PG_VERSION").write_text("15\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "cluster.json").write_text(
        json.dumps({"root": str(foreign), "port": 1, "user": "u", "password": "p", "major": 15})
    )
    cluster = Cluster(Settings(home=home))
    with pytest.raises(ClusterError, match="not a cluster this project created"):
        cluster.down()
    assert cluster.status()["initialised"] is False


def test_a_non_empty_data_folder_is_not_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "pg"
    (root / "data").mkdir(parents=True)
    (root / "data" / "precious.txt").write_text("keep me")
    monkeypatch.setattr(cluster_module, "_is_root", lambda: False)
    cluster = Cluster(Settings(home=tmp_path / "home", pg_dir=root))
    install = cluster_module.find_pg_install()
    assert install is not None
    with pytest.raises(ClusterError, match="not a cluster this project created"):
        cluster._init(install)
    assert (root / "data" / "precious.txt").read_text() == "keep me"


def test_without_root_a_missing_postgis_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_postgis = PgInstall(major=15, bindir=Path("/usr/lib/postgresql/15/bin"), extension_dir=tmp_path)
    monkeypatch.setattr(cluster_module, "find_pg_install", lambda: no_postgis)
    monkeypatch.setattr(cluster_module, "_is_root", lambda: False)
    with pytest.raises(ClusterError, match=r"sudo apt-get install postgresql-15-postgis-3"):
        cluster_module.ensure_postgis_installed()


def test_without_root_a_missing_postgresql_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_module, "find_pg_install", lambda: None)
    monkeypatch.setattr(cluster_module, "_is_root", lambda: False)
    with pytest.raises(ClusterError, match=r"apt-get install postgresql`.*postgis-3.*DATABASE_URL"):
        cluster_module.ensure_postgis_installed()


def test_the_installed_server_is_found() -> None:
    install = cluster_module.find_pg_install()
    assert install is not None
    assert (install.bindir / "pg_ctl").exists()
    assert install.has_postgis


def test_a_taken_default_port_moves_to_a_free_one(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        cluster = Cluster(Settings(home=tmp_path))
        cluster.settings.model_fields_set.discard("pg_port")  # as if TWIN_PG_PORT were not set
        port = cluster._choose_port(taken)
        assert port != taken
        assert not cluster_module._port_in_use(port)
        explicit = Cluster(Settings(home=tmp_path, pg_port=taken))
        with pytest.raises(ClusterError, match=f"port {taken} on 127.0.0.1 is taken"):
            explicit._choose_port(taken)


@pytest.mark.slow
def test_a_cluster_is_created_started_stopped_and_destroyed(tmp_path: Path) -> None:
    """The real provisioning path, in a folder of its own on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path / "home"
    pg_dir = tmp_path / "elsewhere" / "pg"
    (tmp_path / "elsewhere" / "keep.txt").parent.mkdir(parents=True)
    (tmp_path / "elsewhere" / "keep.txt").write_text("not ours")
    if cluster_module._is_root():
        # the postgres user must reach pytest's temporary folders for this test
        for folder in (tmp_path, *tmp_path.parents):
            if folder == Path("/"):
                break
            folder.chmod(folder.stat().st_mode | 0o005)
    settings = Settings(home=home, pg_dir=pg_dir, pg_port=port, db_name="scratch")
    cluster = Cluster(settings)
    info = cluster.up()
    try:
        assert info.root == pg_dir
        assert cluster.status() == {
            "initialised": True,
            "running": True,
            "root": str(pg_dir),
            "port": port,
            "postgresql": info.major,
        }
        assert (home / "cluster.json").stat().st_mode & 0o077 == 0  # the password file is private
        assert pg_dir.stat().st_mode & 0o077 == 0
        import psycopg

        with psycopg.connect(info.url("scratch"), connect_timeout=5) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("scratch",)
        assert cluster.up().port == port  # a second `db up` is a no-op
        assert cluster.down() is True
        assert cluster.status()["running"] is False
        assert cluster.down() is False
    finally:
        cluster.destroy()
    assert not pg_dir.exists()
    assert (tmp_path / "elsewhere" / "keep.txt").read_text() == "not ours"
    assert not (home / "cluster.json").exists()


def test_a_stale_pid_file_is_not_taken_for_a_running_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "postmaster.pid").write_text(f"{os.getpid()}\n{data}\n")  # a live PID, but not a postmaster here
    assert cluster_module._postmaster_pid(data) is None
