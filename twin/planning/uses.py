"""What a building is used for, and how tall it is, from what a source says.

Heights and floors (documented in the README):

- a floor is FLOOR_HEIGHT_M = 3.0 m (a Bulgarian residential storey is 2.8-3.0 m floor to floor; ground
  floors of shops are taller, ignored here);
- a source giving the height and not the floors: floors = round(height / 3 m), at least 1;
- giving the floors and not the height: height = floors × 3 m;
- giving neither: the default floors of the building's type (TYPE_FLOORS, e.g. a house 2, an apartment
  block 6), said as such in ``height_from``.

Uses: OpenStreetMap ``building=*`` values, CityGML/CityJSON ``function`` codes and free-text ``use``
attributes map to residential, mixed (homes over shops, or a use the source does not say: half of its
floor area counts as homes) or non-residential.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

FLOOR_HEIGHT_M = 3.0
MAX_FLOORS = 200
RESIDENTIAL_SHARE = {"residential": 1.0, "mixed": 0.5, "non-residential": 0.0}
"""The share of a building's floor area that is homes, by use."""

RESIDENTIAL_TAGS = frozenset(
    {
        "apartments",
        "residential",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
        "villa",
        "cabin",
        "farm",
    }
)
MIXED_TAGS = frozenset({"yes", "mixed", "mixed_use", "commercial;residential"})
TYPE_FLOORS = {
    "apartments": 6,
    "residential": 5,
    "dormitory": 5,
    "house": 2,
    "detached": 2,
    "semidetached_house": 2,
    "terrace": 2,
    "villa": 2,
    "bungalow": 1,
    "garage": 1,
    "garages": 1,
    "shed": 1,
    "kiosk": 1,
    "service": 1,
    "roof": 1,
    "construction": 1,
    "industrial": 1,
    "warehouse": 1,
    "retail": 2,
    "office": 5,
    "university": 4,
    "school": 3,
    "kindergarten": 2,
    "hospital": 5,
    "government": 4,
}
DEFAULT_FLOORS = 3
"""Floors of a building whose type gives no hint (OSM's building=yes)."""


def home_share(uses: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The share of floor area that is homes, per building, from a sequence of uses."""
    shares = np.asarray(pd.Series(uses, dtype=object).map(RESIDENTIAL_SHARE), dtype=np.float64)
    return np.nan_to_num(shares, nan=0.0)


def use_of(tag: str | None) -> str:
    """residential, mixed or non-residential, from a building tag or a use/function text."""
    value = (tag or "").strip().lower()
    if value in RESIDENTIAL_TAGS or value.startswith(("residential", "жилищ", "1000")):
        return "residential"
    if value in MIXED_TAGS or not value or value.startswith(("mixed", "смес")):
        return "mixed"
    return "non-residential"


def floors_and_height(
    floors: float | None, height_m: float | None, tag: str | None
) -> tuple[int, float, str]:
    """(floors, height in metres, where the height came from), by the rules of this module."""
    given_floors = floors if floors is not None and math.isfinite(floors) and floors > 0 else None
    given_height = height_m if height_m is not None and math.isfinite(height_m) and height_m > 0 else None
    if given_height is not None and given_floors is not None:
        return round(given_floors), given_height, "height and floors as given"
    if given_height is not None:
        return (
            max(1, round(given_height / FLOOR_HEIGHT_M)),
            given_height,
            "height as given; floors = height ÷ 3 m",
        )
    if given_floors is not None:
        count = round(given_floors)
        return count, count * FLOOR_HEIGHT_M, "floors as given × 3 m"
    count = TYPE_FLOORS.get((tag or "").strip().lower(), DEFAULT_FLOORS)
    return count, count * FLOOR_HEIGHT_M, "default floors of its type × 3 m"


def number(value: object) -> float | None:
    """A number from a source attribute ("5", "12.5 m", 7): None when absent or empty, NaN when given
    but not a number (a problem the import names)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().lower().removesuffix("m").strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return math.nan
