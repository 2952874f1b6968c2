"""Loading Lozenets: the real polygons, idempotence, atomicity, checksums."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import Engine, text

from tests.support.lozenets import LOZENETS_NEIGHBOURHOODS
from twin.core.errors import Conflict, SourceError
from twin.core.imports.manifest import Manifest
from twin.core.imports.runner import run_import
from twin.core.imports.store import loader_lock_key
from twin.core.registry import loaders
from twin.district import store as boundaries
from twin.platform.settings import Settings


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything a load writes, hashed, so that two loads can be compared exactly."""
    with engine.connect() as conn:
        district = conn.execute(
            text("SELECT id, name_bg, name_en, population_estimate, md5(ST_AsEWKB(geom)) FROM district")
        ).all()
        hoods = conn.execute(
            text("SELECT id, name, district_id, md5(ST_AsEWKB(geom)) FROM neighbourhood ORDER BY id")
        ).all()
        layers = conn.execute(
            text("SELECT id, data_version, updated_at, content_hash FROM layer ORDER BY id")
        ).all()
    return {"district": district, "neighbourhoods": hoods, "layers": layers}


def last_run(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(text("SELECT * FROM import_run ORDER BY id DESC LIMIT 1")).mappings().one()


def test_district_area_in_utm34n_matches_an_independent_computation(
    engine: Engine, settings: Settings
) -> None:
    with engine.connect() as conn:
        area_m2 = conn.execute(text("SELECT ST_Area(ST_Transform(geom, 32634)) FROM district")).scalar_one()
    assert 9.1e6 < area_m2 < 9.3e6
    # Independently: the raw file, read and projected by pyproj/shapely rather than PostGIS.
    assert settings.sources_dir is not None
    raw = gpd.read_file(settings.sources_dir / "sofiaplan-districts-callsofia/sofia.regions.json")
    expected = raw[raw["obns_num"] == "09"].to_crs(32634).area.iloc[0]
    assert area_m2 == pytest.approx(expected, rel=1e-6)
    assert area_m2 == pytest.approx(9.2424e6, rel=1e-4)


def test_the_seven_neighbourhoods_with_their_names(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, name FROM neighbourhood")).all())
    assert rows == LOZENETS_NEIGHBOURHOODS


def test_district_attributes(engine: Engine) -> None:
    with engine.connect() as conn:
        row = boundaries.district_summary(conn, "09")
    assert row is not None
    assert (row["name_bg"], row["name_en"], row["population_estimate"]) == ("Лозенец", "Lozenec", 53110)


def test_layers_carry_provenance(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(text("SELECT * FROM layer"))}
    assert {"district", "neighbourhoods"} <= set(rows)
    district = rows["district"]
    assert district.synthetic is False
    assert "Sofiaplan" in district.attribution
    assert district.source_date == "2024-02-12"
    assert "8c567b45498b571661f8af62c69d6283f397f62e" in district.source_url
    assert district.source_ids == ["sofiaplan-regions", "sofiaplan-regions-population"]


def test_a_second_load_changes_nothing(engine: Engine, settings: Settings, manifest: Manifest) -> None:
    before = snapshot(engine)
    result = run_import(engine, settings, manifest, loaders()["lozenets"])
    assert result.status == "unchanged"
    assert snapshot(engine) == before
    # Forced, the rows are rewritten but identical, and the layers' data versions do not move.
    forced = run_import(engine, settings, manifest, loaders()["lozenets"], force=True)
    assert forced.status == "succeeded"
    assert forced.row_counts == {"district": 1, "neighbourhood": 7}
    assert snapshot(engine) == before


def test_a_wrong_checksum_is_rejected_and_the_data_stays(
    engine: Engine, settings: Settings, manifest: Manifest, mirror_copy: Path
) -> None:
    before = snapshot(engine)
    regions = mirror_copy / "sofiaplan-districts-callsofia/sofia.regions.json"
    content = regions.read_bytes()
    regions.unlink()
    # Same size, one coordinate digit changed: only the checksum can tell.
    regions.write_bytes(content.replace(b"23.309495912", b"23.309495913", 1))
    corrupted = settings.model_copy(update={"sources_dir": mirror_copy})
    with pytest.raises(SourceError, match=r"sofiaplan-regions.*fails its checksum"):
        run_import(engine, corrupted, manifest, loaders()["lozenets"], force=True)
    assert snapshot(engine) == before
    run = last_run(engine)
    assert run["status"] == "failed"
    assert "fails its checksum" in run["error"]


def test_a_missing_source_is_rejected(
    engine: Engine, settings: Settings, manifest: Manifest, mirror_copy: Path
) -> None:
    before = snapshot(engine)
    (mirror_copy / "sofiaplan-districts-callsofia/call.sofia.dump.kvartali.csv").unlink()
    missing = settings.model_copy(update={"sources_dir": mirror_copy})
    with pytest.raises(SourceError, match=r"sofiaplan-kvartali-names.*missing from the mirror"):
        run_import(engine, missing, manifest, loaders()["lozenets"], force=True)
    assert snapshot(engine) == before


def test_a_failure_midway_leaves_the_previous_data(
    engine: Engine, settings: Settings, manifest: Manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(engine)
    original = boundaries.replace_district

    def replace_with_other_name(conn: Any, **kwargs: Any) -> None:
        original(conn, **{**kwargs, "name_bg": "ЧУЖДО ИМЕ"})

    def fail(*args: Any, **kwargs: Any) -> int:
        raise ValueError("disk full while writing neighbourhoods")

    monkeypatch.setattr(boundaries, "replace_district", replace_with_other_name)
    monkeypatch.setattr(boundaries, "replace_neighbourhoods", fail)
    with pytest.raises(SourceError, match="disk full"):
        run_import(engine, settings, manifest, loaders()["lozenets"], force=True)
    assert snapshot(engine) == before
    assert last_run(engine)["status"] == "failed"


def test_a_concurrent_import_of_the_same_loader_is_refused(
    engine: Engine, settings: Settings, manifest: Manifest
) -> None:
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": loader_lock_key("lozenets")})
        try:
            with pytest.raises(Conflict, match="already running"):
                run_import(engine, settings, manifest, loaders()["lozenets"], force=True)
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": loader_lock_key("lozenets")})


# -- the loader's pure pieces, on tiny frames ------------------------------------------------------
def test_neighbourhoods_are_picked_by_representative_point() -> None:
    from twin.district.importer import neighbourhoods_within

    square = shapely.box(0, 0, 10, 10)
    frame = gpd.GeoDataFrame(
        {"id": [1, 2, 3]},
        geometry=[shapely.box(1, 1, 3, 3), shapely.box(8, 8, 14, 14), shapely.box(9, 0, 30, 5)],
        crs=4326,
        index=[10, 20, 30],
    )
    picked = neighbourhoods_within(square, frame, {1: "a", 2: "b", 3: "c"})
    # 2 straddles the edge with most of its area outside; its representative point decides.
    assert list(picked.index) == [10]
    assert picked.loc[10, "name"] == "a"


def test_a_neighbourhood_without_a_name_is_an_error() -> None:
    from twin.district.importer import neighbourhoods_within

    frame = gpd.GeoDataFrame({"id": [7]}, geometry=[shapely.box(1, 1, 2, 2)], crs=4326)
    with pytest.raises(SourceError, match=r"no name for neighbourhood ids \[7\]"):
        neighbourhoods_within(shapely.box(0, 0, 5, 5), frame, {})


def test_an_invalid_polygon_is_repaired_into_a_multipolygon() -> None:
    from twin.district.importer import as_valid_multipolygon

    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    repaired = as_valid_multipolygon(bowtie, "test")
    assert repaired.is_valid
    assert repaired.geom_type == "MultiPolygon"
    assert repaired.area == pytest.approx(2.0)


def test_a_names_file_with_a_bad_id_names_line_and_column(tmp_path: Path) -> None:
    from twin.district.importer import read_names

    path = tmp_path / "names.csv"
    path.write_text("id,name\n1,a\nx,b\n", encoding="utf-8")
    with pytest.raises(SourceError, match="line 3, column id"):
        read_names(path)
