"""`twin`: the command line of the twin — database, migrations, sources, imports, keys, server."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import click
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from twin.core.errors import InvalidParameter, NotFound, TwinError
from twin.core.imports.fetch import ProgressHook
from twin.core.imports.manifest import Manifest, SourceEntry
from twin.core.imports.upload import Upload
from twin.platform.settings import Settings

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_show_locals=False
)
db_app = typer.Typer(
    no_args_is_help=True, help="The private PostGIS cluster (used when DATABASE_URL is unset)."
)
keys_app = typer.Typer(no_args_is_help=True, help="API keys: create, list, revoke.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")

out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


@contextmanager
def _progress() -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    ) as progress:
        yield progress


def _source_progress(progress: Progress) -> ProgressHook:
    tasks: dict[str, TaskID] = {}

    def hook(entry: SourceEntry, done: int, total: int) -> None:
        task = tasks.get(entry.id)
        if task is None:
            task = tasks[entry.id] = progress.add_task(entry.id, total=total)
        progress.update(task, completed=done)

    return hook


# -- db ----------------------------------------------------------------------------------------
@db_app.command("up")
def db_up() -> None:
    """Create (once) and start the private cluster, and create the database."""
    settings = _settings()
    if not settings.uses_private_cluster:
        from twin.platform.db import make_sync_engine

        engine = make_sync_engine(settings)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
        err.print("DATABASE_URL is set: using that database; no private cluster needed")
        return
    from twin.platform.cluster import Cluster

    info = Cluster(settings, log=lambda m: err.print(f"[dim]{m}[/dim]")).up()
    err.print(f"PostGIS up: 127.0.0.1:{info.port}, database {settings.db_name} (data in {info.root})")


@db_app.command("down")
def db_down() -> None:
    """Stop the private cluster (never one this project did not create)."""
    from twin.platform.cluster import Cluster

    stopped = Cluster(_settings()).down()
    err.print("stopped" if stopped else "not running")


@db_app.command("status")
def db_status() -> None:
    """Show whether the private cluster exists and runs."""
    from twin.platform.cluster import Cluster

    out.print_json(json.dumps(Cluster(_settings()).status()))


@db_app.command("url")
def db_url() -> None:
    """Print the database URL in libpq form (for psql); it contains the password."""
    from twin.platform.db import database_url, libpq_url

    out.print(libpq_url(database_url(_settings())), highlight=False, soft_wrap=True)


@db_app.command("destroy")
def db_destroy(yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Stop and delete the private cluster and all its data."""
    from twin.platform.cluster import Cluster

    if not yes:
        typer.confirm("Delete the private cluster and all the twin's data in it?", abort=True)
    Cluster(_settings()).destroy()
    err.print("destroyed")


# -- schema --------------------------------------------------------------------------------------
@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    down: Annotated[bool, typer.Option("--down", help="Downgrade to REVISION instead.")] = False,
) -> None:
    """Bring the schema to a revision (default: head) with Alembic."""
    from twin.platform import migrate as migrations
    from twin.platform.db import make_sync_engine

    engine = make_sync_engine(_settings())
    try:
        (migrations.downgrade if down else migrations.upgrade)(engine, revision)
        with engine.connect() as conn:
            err.print(f"schema at revision {migrations.current_revision(conn)}")
    finally:
        engine.dispose()


# -- sources -------------------------------------------------------------------------------------
def _entries_for(
    names: list[str] | None, every: bool = False
) -> tuple[Settings, Manifest, list[SourceEntry]]:
    from twin.core.imports.manifest import load_manifest
    from twin.core.registry import loaders

    settings = _settings()
    manifest = load_manifest(settings.manifest)
    if not names:
        registered = loaders()
        entries = [e for e in manifest.sources if every or e.loader in registered]
        if settings.sources_dir is None:
            # Curated extracts exist only in a mirror: skip them rather than fail the whole fetch.
            skipped = [e.id for e in entries if e.mirror_only]
            if skipped:
                err.print(
                    f"[yellow]skipped (mirror only, set TWIN_SOURCES_DIR):[/yellow] {', '.join(skipped)}"
                )
            entries = [e for e in entries if not e.mirror_only]
        return settings, manifest, entries
    picked: list[SourceEntry] = []
    for name in names:
        if name in manifest.loaders or name in loaders():
            picked.extend(manifest.for_loader(name))
        else:
            picked.append(manifest.get(name))
    return settings, manifest, picked


@app.command()
def fetch(
    sources: Annotated[
        list[str] | None, typer.Argument(help="Source ids or loader names; default: what the importers read.")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every source in the manifest.")] = False,
) -> None:
    """Download sources (or take them from TWIN_SOURCES_DIR) and verify their checksums."""
    from twin.core.imports.fetch import resolve_all

    settings, _manifest, entries = _entries_for(sources, every)
    where = f"mirror {settings.sources_dir}" if settings.sources_dir else f"cache {settings.cache_dir}"
    err.print(f"fetching {len(entries)} sources ({where})")
    with _progress() as progress:
        paths = resolve_all(entries, settings, _source_progress(progress))
    err.print(f"{len(paths)} sources verified")


@app.command()
def load(
    names: Annotated[
        list[str] | None, typer.Argument(help="Loader names or source ids; default: every loader.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Reload even if the sources did not change.")
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Your own file or folder in place of the loader's source (e.g. a GTFS zip or folder); "
            "needs one loader name and --licence.",
        ),
    ] = None,
    licence: Annotated[
        str | None, typer.Option("--licence", help="The licence of --file (say 'unknown' if unknown).")
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="What --file is / who published it.")
    ] = "file imported from the command line",
    attribution: Annotated[str, typer.Option("--attribution", help="Attribution for --file.")] = "",
    source_date: Annotated[
        str | None, typer.Option("--source-date", help="Date of the data in --file (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Import sources into the database, each loader in one transaction; record the runs."""
    from twin.core.imports.manifest import load_manifest
    from twin.core.registry import loaders

    settings = _settings()
    manifest = load_manifest(settings.manifest)
    registry = loaders()
    chosen = _chosen_loaders(names, manifest, list(registry))
    if not names and settings.sources_dir is None:
        chosen, skipped = loaders_without_mirror(chosen, manifest)
        for loader_name, extracts in skipped.items():
            err.print(
                f"[yellow]skipped loader {loader_name}:[/yellow] {', '.join(extracts)} are curated extracts "
                "available only from a mirror folder (set TWIN_SOURCES_DIR)"
            )
    upload = None
    if file is not None:
        if len(chosen) != 1 or not names:
            raise TwinError("--file needs exactly one loader name, e.g. `twin load gtfs --file feed.zip`")
        upload = _upload(file, chosen[0], licence, source, attribution, source_date)
    for loader_name in chosen:
        _run_loader(settings, manifest, loader_name, force, upload)


def loaders_without_mirror(chosen: list[str], manifest: Manifest) -> tuple[list[str], dict[str, list[str]]]:
    """Without a mirror, the loaders that can run and, for the others, their mirror-only sources: a
    default `twin load` (as run.sh does) loads what it can instead of failing on a missing extract."""
    kept, skipped = [], {}
    for loader_name in chosen:
        extracts = [e.id for e in manifest.for_loader(loader_name) if e.mirror_only]
        if extracts:
            skipped[loader_name] = extracts
        else:
            kept.append(loader_name)
    return kept, skipped


def _chosen_loaders(names: list[str] | None, manifest: Manifest, known: list[str]) -> list[str]:
    """Loader names from loader names or source ids (each once, in order); every loader by default."""
    chosen: list[str] = []
    for name in names or known:
        loader_name = name if name in known else manifest.get(name).loader
        if loader_name not in known:
            raise TwinError(f"no importer exists yet for {loader_name!r} (known: {', '.join(known)})")
        if loader_name not in chosen:
            chosen.append(loader_name)
    return chosen


def _upload(
    file: Path, loader_name: str, licence: str | None, source: str, attribution: str, source_date: str | None
) -> Upload:
    """The same checks as an upload over HTTP, named by the option that carries each value."""
    from twin.core.imports.upload import new_upload, uploadable
    from twin.core.registry import loaders

    try:
        uploadable(loader_name, loaders())
        return new_upload(
            file, licence=licence, source=source, attribution=attribution, source_date=source_date
        )
    except (InvalidParameter, NotFound) as exc:
        option = {"licence": "--licence", "source_date": "--source-date", "file": "--file"}.get(
            str(exc.extensions.get("parameter")), "--file"
        )
        raise TwinError(f"{option}: {exc.detail}") from exc


def _run_loader(
    settings: Settings, manifest: Manifest, loader_name: str, force: bool, upload: Upload | None
) -> None:
    from twin.core.imports.runner import run_import
    from twin.core.registry import loaders
    from twin.platform.db import make_sync_engine

    engine = make_sync_engine(settings)
    try:
        with _progress() as progress:
            result = run_import(
                engine,
                settings,
                manifest,
                loaders()[loader_name],
                force=force,
                progress=_source_progress(progress),
                upload=upload,
            )
    finally:
        engine.dispose()
    if result.note:
        err.print(f"{loader_name}: {result.note}")
    counts = ", ".join(f"{k} {v}" for k, v in result.row_counts.items()) or "no rows written"
    err.print(f"{loader_name}: {result.status} (run {result.run_id}; {counts})")


# -- keys ----------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    role: Annotated[str, typer.Option("--role", help="planner, transport, sensor-ingest or admin.")],
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from twin.platform.db import make_sync_engine
    from twin.platform.keys import create_key

    engine = make_sync_engine(_settings())
    try:
        with engine.begin() as conn:
            key, row = create_key(conn, name, role)
    finally:
        engine.dispose()
    err.print(f"key {row['id']} ({row['role']}) for {row['name']!r}; store it now, it is not shown again:")
    out.print(key, highlight=False)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never the keys themselves)."""
    from twin.platform.db import make_sync_engine
    from twin.platform.keys import list_keys

    engine = make_sync_engine(_settings())
    try:
        with engine.connect() as conn:
            rows = list_keys(conn)
    finally:
        engine.dispose()
    table = Table("id", "name", "prefix", "role", "created", "revoked", "last used")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["name"],
            r["prefix"],
            r["role"],
            str(r["created_at"]),
            str(r["revoked_at"] or ""),
            str(r["last_used_at"] or ""),
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="The key's id or prefix.")]) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from twin.platform.db import make_sync_engine
    from twin.platform.keys import revoke_key

    engine = make_sync_engine(_settings())
    try:
        with engine.begin() as conn:
            when = revoke_key(conn, key)
    finally:
        engine.dispose()
    err.print(f"revoked at {when}")


# -- server --------------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: TWIN_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Default: TWIN_PORT.")] = None,
    workers: Annotated[int | None, typer.Option(help="Default: TWIN_WORKERS.")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from twin.platform.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        loop=settings.loop,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


def _add_pilot_commands() -> None:
    """Each pilot's own command group, as `twin <pilot> …` (e.g. `twin air poll`)."""
    from twin.core.registry import pilots

    added = {group.name for group in app.registered_groups}
    for pilot in pilots():
        if pilot.commands is not None and pilot.name not in added:
            app.add_typer(pilot.commands(), name=pilot.name)


def main() -> None:
    try:
        _add_pilot_commands()
        result = app(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(1)
    except TwinError as exc:
        _fail(exc.detail)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        _fail(f"invalid setting: {problems}")
    except OperationalError as exc:
        _fail(f"the database cannot be reached ({_first_line(exc)}); run `twin db up` or check DATABASE_URL")
    except DBAPIError as exc:
        _fail(f"the database refused the request: {_first_line(exc)}")
    except ArgumentError as exc:
        _fail(f"DATABASE_URL is not a valid database URL: {exc}")
    sys.exit(result if isinstance(result, int) else 0)


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig or exc).strip().splitlines()[0]


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    sys.exit(2)


if __name__ == "__main__":
    main()
