"""Layer specifications: what a layer is, and where its data came from (provenance from the manifest)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twin.manifest import Manifest


@dataclass(frozen=True)
class LayerSpec:
    """A layer the twin serves. Base layers are written by an importer; derived ones by a scenario."""

    id: str
    title: str
    description: str
    geometry_type: str
    table_name: str | None
    source_ids: tuple[str, ...] = ()
    kind: Literal["base", "derived"] = "base"
    synthetic: bool = False

    def provenance(self, manifest: Manifest) -> dict[str, object]:
        """Source, licence, attribution and date, joined from the manifest entries the layer uses."""
        entries = [manifest.get(source_id) for source_id in self.source_ids]

        def joined(values: list[str]) -> str:
            return "; ".join(dict.fromkeys(v for v in values if v))

        return {
            "source": joined([e.title for e in entries]) or "computed by the twin",
            "source_url": joined([e.url for e in entries]) or None,
            "licence": joined([e.licence for e in entries]) or "n/a",
            "attribution": joined([e.attribution for e in entries]),
            "source_date": joined([e.source_date for e in entries]) or None,
            "synthetic": self.synthetic or any(e.synthetic for e in entries),
        }
