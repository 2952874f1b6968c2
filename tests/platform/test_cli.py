"""The `twin` command line, run in-process against the test database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from twin.platform.cli import app, main
from twin.platform.settings import Settings


@pytest.fixture
def cli_env(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    return CliRunner()


def test_keys_create_list_revoke(cli_env: CliRunner, engine: Engine) -> None:
    created = cli_env.invoke(app, ["keys", "create", "ops desk", "--role", "transport"])
    assert created.exit_code == 0, created.output
    key = next(line for line in created.output.splitlines() if line.startswith("ltw_"))
    prefix = key.split("_")[1]
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT name, role, key_hash FROM api_key WHERE prefix = :p"), {"p": prefix}
        ).one()
    assert (row.name, row.role) == ("ops desk", "transport")
    assert key not in row.key_hash  # only the hash is stored
    listed = cli_env.invoke(app, ["keys", "list"])
    assert prefix in listed.output
    assert key.split("_", 2)[2] not in listed.output
    revoked = cli_env.invoke(app, ["keys", "revoke", prefix])
    assert revoked.exit_code == 0, revoked.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT revoked_at FROM api_key WHERE prefix = :p"), {"p": prefix}).scalar()


def test_keys_create_rejects_an_unknown_role(cli_env: CliRunner) -> None:
    result = cli_env.invoke(app, ["keys", "create", "x", "--role", "mayor"])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert "unknown role 'mayor'" in str(result.exception)


def test_load_reports_unchanged_sources(cli_env: CliRunner) -> None:
    result = cli_env.invoke(app, ["load", "lozenets"])
    assert result.exit_code == 0, result.output
    assert "lozenets: unchanged" in result.output


def test_load_of_a_source_without_an_importer_is_refused(cli_env: CliRunner) -> None:
    result = cli_env.invoke(app, ["load", "nhif-hospitals-register"])
    assert result.exit_code != 0
    assert "no importer exists yet for 'hospitals'" in str(result.exception)
    unknown = cli_env.invoke(app, ["load", "atlantis"])
    assert "source 'atlantis' is not in the manifest" in str(unknown.exception)


def test_fetch_verifies_the_named_sources(cli_env: CliRunner) -> None:
    result = cli_env.invoke(app, ["fetch", "lozenets"])
    assert result.exit_code == 0, result.output
    assert "4 sources verified" in result.output


def test_fetch_fails_with_a_clear_message_on_a_bad_checksum(
    settings: Settings, mirror_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = mirror_copy / "sofiaplan-districts-callsofia/call.sofia.dump.regions.csv"
    content = target.read_bytes()
    target.unlink()
    target.write_bytes(content.replace(b"53110", b"53111"))
    monkeypatch.setenv("TWIN_SOURCES_DIR", str(mirror_copy))
    monkeypatch.setattr(sys, "argv", ["twin", "fetch", "lozenets"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2


def test_a_revoke_argument_that_is_neither_id_nor_prefix_is_refused(cli_env: CliRunner) -> None:
    result = cli_env.invoke(app, ["keys", "revoke", "not-a-key"])
    assert "neither a key id nor a 12-digit key prefix" in str(result.exception)


def test_the_cli_reports_an_unreachable_database_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x:y@127.0.0.1:9/none")
    monkeypatch.setattr(sys, "argv", ["twin", "keys", "list"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "the database cannot be reached" in err
    assert "Traceback" not in err


def test_without_a_mirror_a_default_load_skips_loaders_of_curated_extracts(settings: Settings) -> None:
    """run.sh on a machine without ../shared/data: Lozenets and the feed load from their URLs, the air
    loader (its station list is a curated extract) is skipped with the reason, not a failure."""
    from twin.core.imports.manifest import load_manifest
    from twin.platform.cli import loaders_without_mirror

    manifest = load_manifest(settings.manifest)
    kept, skipped = loaders_without_mirror(["lozenets", "gtfs", "air"], manifest)
    assert kept == ["lozenets", "gtfs"]
    assert "eea-stations-sofia" in skipped["air"]
    assert "sensor-community-locations-lozenets" in skipped["air"]
