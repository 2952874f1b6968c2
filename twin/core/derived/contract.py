"""The derived-layer contract: a derived layer is a pure function of its inputs and typed parameters.

A pilot declares a :class:`DerivedLayer` in its :class:`twin.core.registry.Pilot`; from then on the
generic routers serve it as a collection (items, tiles, filters, CRS, caching), computed on request and
stored by (layer, parameters, input data versions). No new router, no new table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
from pydantic import BaseModel

from twin.core.derived.inputs import InputKey, Inputs

PROPERTY_TYPES = frozenset({"string", "integer", "number", "boolean", "date", "datetime"})
RESULT_PARAMETER = "result"
"""The request parameter naming a stored result (one computed from a POSTed body, say)."""
COMPUTATION_ATTR = "computation"
"""A computation may account for itself in ``frame.attrs[COMPUTATION_ATTR]``, a JSON object (the method
used, a fit and its error, a fallback taken, why the result is empty): it is stored with the result and
served with its features (the ``computation`` member of the items answer)."""


@dataclass(frozen=True)
class OutputProperty:
    name: str
    type: str
    """JSON Schema type: string, integer, number, boolean, date or datetime."""
    description: str
    """What it is, with its unit."""


Compute = Callable[[Inputs, BaseModel], gpd.GeoDataFrame]


@dataclass(frozen=True)
class DerivedLayer:
    id: str
    title: str
    description: str
    geometry_type: str
    parameters: type[BaseModel]
    """Every field needs a default, so that a GIS client can open the layer as it is. Scalar fields may
    come from the query string; any field (a list of geometries, say) from a POSTed JSON body."""
    properties: tuple[OutputProperty, ...]
    inputs: tuple[str, ...]
    """Layer ids the computation reads (``inputs.frame``/``inputs.table``)."""
    compute: Compute
    uses: tuple[InputKey[Any], ...] = ()
    """Questions it needs answered (``inputs.get``): the layer exists only where some pilot answers."""
    optional: tuple[InputKey[Any], ...] = ()
    """Questions it asks when answered and reports as not available otherwise."""
    version: str = "1"
    """Bump when the computation changes, so stored results are recomputed."""
    extent_input: str | None = None
    """The input whose extent the collection reports (default: the first input); a grid over the
    district says "district", not the stops of all Sofia it reads."""

    def __post_init__(self) -> None:
        missing = [name for name, field in self.parameters.model_fields.items() if field.is_required()]
        if missing:
            raise ValueError(f"derived layer {self.id!r}: parameters {missing} need defaults")
        clashes = sorted(set(self.parameters.model_fields) & {p.name for p in self.properties})
        if clashes:
            # A request parameter must mean one thing: a layer parameter or a property filter.
            raise ValueError(f"derived layer {self.id!r}: {clashes} are both parameters and properties")
        reserved = sorted({RESULT_PARAMETER} & set(self.parameters.model_fields))
        if reserved:
            raise ValueError(f"derived layer {self.id!r}: {reserved} is a reserved parameter name")
        unknown = sorted({p.type for p in self.properties} - PROPERTY_TYPES)
        if unknown:
            raise ValueError(f"derived layer {self.id!r}: unknown property types {unknown}")
        if self.extent_input is not None and self.extent_input not in self.inputs:
            raise ValueError(f"derived layer {self.id!r}: extent_input {self.extent_input!r} is not an input")

    @property
    def extent_layer(self) -> str | None:
        return self.extent_input or (self.inputs[0] if self.inputs else None)
