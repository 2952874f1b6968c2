"""When an import changes a source, the catalog, items, tiles and derived layers follow at once."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
from sqlalchemy import Engine

from tests.support.databases import ProcessServer
from twin.core.imports.manifest import Manifest, load_manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.core.tiles import tile_index
from twin.platform.settings import Settings


def _wait_for(check: object, seconds: float = 2.0) -> float:
    """Seconds until check() holds (the change travels by NOTIFY to the server's listener)."""
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - started < seconds, "the change did not reach the API in time"
        time.sleep(0.01)
    return time.monotonic() - started


def test_an_import_is_visible_at_once_everywhere(
    client: httpx.Client,
    process_server: ProcessServer,
    engine: Engine,
    settings: Settings,
    manifest: Manifest,
    mirror_copy: Path,
    tmp_path: Path,
) -> None:
    x, y = tile_index(23.33, 42.66, 13)
    tile_url = f"/collections/district/tiles/WebMercatorQuad/13/{y}/{x}"
    before = {
        "items": client.get("/collections/district/items").headers["etag"],
        "tile": client.get(tile_url).headers["etag"],
        "grid": client.get("/collections/lozenets_grid/items", params={"limit": 1}).headers["etag"],
        "version": client.get("/collections/district").json()["dataVersion"],
    }
    # A new edition of the district file: the district renamed.
    regions = mirror_copy / "sofiaplan-districts-callsofia/sofia.regions.json"
    content = regions.read_bytes().replace(
        '"obns_cyr": "ЛОЗЕНЕЦ"'.encode(), '"obns_cyr": "НОВ ЛОЗЕНЕЦ"'.encode()
    )
    regions.unlink()
    regions.write_bytes(content)
    text = settings.manifest.read_text(encoding="utf-8")
    entry = manifest.get("sofiaplan-regions")
    text = text.replace(entry.sha256, hashlib.sha256(content).hexdigest()).replace(
        f"size = {entry.size}\n", f"size = {len(content)}\n", 1
    )
    new_manifest = tmp_path / "sources.toml"
    new_manifest.write_text(text, encoding="utf-8")
    edition = settings.model_copy(update={"sources_dir": mirror_copy, "manifest": new_manifest})
    try:
        other = httpx.Client(base_url=process_server.url)  # another service process on the same primary
        old_name = other.get("/collections/district/items").json()["features"][0]["properties"]["name_bg"]
        assert old_name == "Лозенец"  # and now in that process's response cache
        result = run_import(engine, edition, load_manifest(new_manifest), loaders()["lozenets"])
        assert result.status == "succeeded"
        other_latency = _wait_for(
            lambda: (
                other.get("/collections/district/items").json()["features"][0]["properties"]["name_bg"]
                == "Нов Лозенец"
            )
        )
        assert other_latency < 2.0
        other.close()
        latency = _wait_for(
            lambda: (
                client.get("/collections/district/items").json()["features"][0]["properties"]["name_bg"]
                == "Нов Лозенец"
            )
        )
        assert latency < 2.0
        assert client.get("/collections/district").json()["dataVersion"] == before["version"] + 1
        assert client.get("/collections/district/items").headers["etag"] != before["items"]
        assert client.get(tile_url).headers["etag"] != before["tile"]
        grid = client.get("/collections/lozenets_grid/items", params={"limit": 1})
        assert grid.headers["etag"] != before["grid"]  # recomputed from the new input version
        # A client holding the old ETag gets the new data, not a 304.
        assert (
            client.get("/collections/district/items", headers={"If-None-Match": before["items"]}).status_code
            == 200
        )
    finally:
        run_import(engine, settings, manifest, loaders()["lozenets"], force=True)
    _wait_for(
        lambda: (
            client.get("/collections/district/items").json()["features"][0]["properties"]["name_bg"]
            == "Лозенец"
        )
    )
