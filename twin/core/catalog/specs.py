"""Layer specifications and provenance: what a layer is, and where its data came from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from twin.core.imports.manifest import Manifest


@dataclass(frozen=True)
class LayerSpec:
    """A base layer the twin serves, written by a loader."""

    id: str
    title: str
    description: str
    geometry_type: str
    """A GeoJSON geometry type, or "None" for a table of figures (listed in /layers, not a collection)."""
    table_name: str | None
    source_ids: tuple[str, ...] = ()
    kind: Literal["base", "derived"] = "base"
    synthetic: bool = False
    temporal_column: str | None = None
    """The timestamptz or date column that `datetime` filters match, for a layer that has time."""
    key_column: str | None = None
    """The feature id column when the table is a view (a view has no primary key to find it by)."""
    extent_layer: str | None = None
    """Report this layer's extent instead of computing one (a view over millions of rows whose
    geometries are another layer's: measurements at stations)."""
    exact_count: bool = True
    """Count numberMatched on the first page; False for layers too large to count per request."""

    def options(self) -> dict[str, Any]:
        """How the catalog serves the layer, where it differs from a plain table (stored with it)."""
        found: dict[str, Any] = {}
        if self.key_column:
            found["key_column"] = self.key_column
        if self.extent_layer:
            found["extent_layer"] = self.extent_layer
        if not self.exact_count:
            found["exact_count"] = False
        return found

    def provenance(self, manifest: Manifest) -> dict[str, Any]:
        """Source, licence, attribution and date, joined from the manifest entries the layer uses."""
        entries = [manifest.get(source_id) for source_id in self.source_ids]
        joined = join_provenance(
            {
                "source": e.title,
                "source_url": e.url,
                "licence": e.licence,
                "attribution": e.attribution,
                "source_date": e.source_date,
                "synthetic": e.synthetic,
            }
            for e in entries
        )
        joined["synthetic"] = joined["synthetic"] or self.synthetic
        return joined


def _joined(values: Iterable[Any]) -> str:
    return "; ".join(dict.fromkeys(str(v) for v in values if v))


def join_provenance(records: Iterable[Mapping[str, Any]], source: str | None = None) -> dict[str, Any]:
    """One provenance from several (the sources of a layer, or the inputs of a derived one): each
    licence, attribution and date once, in order; synthetic if any part is. `source` replaces the
    joined source names (a derived layer names what it was computed from)."""
    parts: Sequence[Mapping[str, Any]] = list(records)
    return {
        "source": source or _joined(p["source"] for p in parts) or "computed by the twin",
        "source_url": _joined(p.get("source_url") for p in parts) or None,
        "licence": _joined(p["licence"] for p in parts) or "n/a",
        "attribution": _joined(p["attribution"] for p in parts),
        "source_date": _joined(p.get("source_date") for p in parts) or None,
        "synthetic": any(bool(p["synthetic"]) for p in parts),
    }
