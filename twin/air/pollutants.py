"""The pollutants the twin stores: their codes, units, EEA vocabulary numbers and what is plausible.

Concentrations are stored in the pollutant's unit (µg/m³, CO in mg/m³); a value sent in another unit
that means the same quantity is converted, any other unit is refused.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pollutant:
    code: str
    """The twin's name, as EDR parameter-name and in every answer."""
    name: str
    unit: str
    eea_code: int
    """The EEA pollutant vocabulary number (dd.eionet.europa.eu/vocabulary/aq/pollutant)."""
    plausible_max: float
    """Above this (in `unit`) a value is refused as impossible: well beyond any recorded urban hour."""

    def factor(self, unit: str) -> float | None:
        """The factor from `unit` to the stored unit, or None when `unit` is not a concentration unit
        this pollutant can be given in."""
        return _FACTORS[self.unit].get(_normal(unit))


def _normal(unit: str) -> str:
    return unit.strip().lower().replace("μ", "µ").replace("³", "3").replace(" ", "").replace("^", "")


_MICRO = {"µg/m3": 1.0, "ug/m3": 1.0, "mg/m3": 1000.0}
_MILLI = {"mg/m3": 1.0, "µg/m3": 0.001, "ug/m3": 0.001}
_FACTORS = {"µg/m³": _MICRO, "mg/m³": _MILLI}

POLLUTANTS: dict[str, Pollutant] = {
    p.code: p
    for p in (
        Pollutant("PM10", "Particulate matter < 10 µm", "µg/m³", 5, 2000.0),
        Pollutant("PM2.5", "Particulate matter < 2.5 µm", "µg/m³", 6001, 1500.0),
        Pollutant("NO2", "Nitrogen dioxide", "µg/m³", 8, 2000.0),
        Pollutant("O3", "Ozone", "µg/m³", 7, 1000.0),
        Pollutant("SO2", "Sulphur dioxide", "µg/m³", 1, 3000.0),
        Pollutant("CO", "Carbon monoxide", "mg/m³", 10, 100.0),
    )
}
BY_EEA_CODE = {p.eea_code: p for p in POLLUTANTS.values()}
