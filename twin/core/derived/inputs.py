"""What a derived computation may read: layers by id, and answers to named questions that a pilot
registers (:class:`Provider`). A question is an :class:`InputKey`; the keys pilots ask each other are
declared in :mod:`twin.questions`, so the asking pilot never imports the answering one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection

T = TypeVar("T")

METRIC_CRS = 32634
"""UTM zone 34N: the CRS of every metric computation (Sofia lies in zone 34)."""


@dataclass(frozen=True)
class InputKey(Generic[T]):
    """A named question, whose answer is an object of type ``T`` (usually a Protocol)."""

    name: str
    description: str


@dataclass(frozen=True)
class Provider(Generic[T]):
    """How a pilot answers a question, inside the transaction of the computation that asks.

    ``layers`` are the layer ids whose data the answers depend on: their data versions key every result
    computed from them, so a re-import recomputes the results."""

    key: InputKey[T]
    layers: tuple[str, ...]
    open: Callable[[Connection], T]


class InputUnavailable(LookupError):
    """Nobody answers the question asked (the pilot that would is not installed), or a layer is not
    loaded."""


class Inputs(Protocol):
    """How a computation reads its inputs."""

    def frame(self, layer_id: str, crs: int = METRIC_CRS) -> gpd.GeoDataFrame:
        """A base layer's features in `crs` (default UTM 34N, metres), index = its key."""
        ...

    def table(self, layer_id: str) -> pd.DataFrame:
        """A non-spatial base layer (a table of figures, e.g. line punctuality) as a DataFrame."""
        ...

    def get(self, key: InputKey[T]) -> T:
        """The answerer of a question; :class:`InputUnavailable` when no pilot answers it."""
        ...

    def has(self, key: InputKey[Any]) -> bool:
        """Whether some pilot answers the question."""
        ...
