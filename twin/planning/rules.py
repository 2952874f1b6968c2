"""Zoning rules: per zone code, the maximum built-up density, floor-area ratio and height and the minimum
green share, each with its source and standing. The committed table (data/zoning_rules.toml) is
version 1; an admin may replace it through the API, and every replacement is a new version. An answer
that uses a rule shows it with its source and the version it came from."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from twin.core.errors import InvalidParameter, TwinError
from twin.platform.settings import PROJECT_ROOT

RULES_FILE = PROJECT_ROOT / "data" / "zoning_rules.toml"
RULE_NAMES = ("max_density", "max_far", "min_green", "max_height")
"""max_density and min_green in % of the land, max_far a ratio, max_height in metres."""
Standing = Literal["Sofia law", "national default", "secondary source"]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(ge=0)
    standing: Standing
    source: str = Field(min_length=10, max_length=2000)


class ZoneRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=20)
    name: str = Field(min_length=1, max_length=300)
    max_density: Rule | None = None
    max_far: Rule | None = None
    min_green: Rule | None = None
    max_height: Rule | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ZoneRules:
        for name in ("max_density", "min_green"):
            rule = getattr(self, name)
            if rule is not None and rule.value > 100:
                raise ValueError(f"{self.code}: {name} is a share of the land, at most 100 %")
        if self.max_far is not None and self.max_far.value > 30:
            raise ValueError(f"{self.code}: a floor-area ratio above 30 is not a rule")
        if self.max_height is not None and not 0 < self.max_height.value <= 700:
            raise ValueError(f"{self.code}: max_height must be within 0-700 m")
        return self


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version_note: str = Field(default="", max_length=500)
    zone: tuple[ZoneRules, ...] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        codes = [z.code for z in self.zone]
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            raise ValueError(f"zone codes repeated: {repeated}")
        return self

    def get(self, code: str) -> ZoneRules | None:
        return next((z for z in self.zone if z.code == code), None)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(z.code for z in self.zone)


def committed_rules(path: Path = RULES_FILE) -> RuleSet:
    """The committed table; a file that does not hold together stops the twin."""
    try:
        return RuleSet.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise TwinError(f"the zoning rule file {path} cannot be used: {exc}") from exc


def parse_rules(body: Any) -> RuleSet:
    """A rule set sent through the API; every problem named by its place (a 400)."""
    try:
        return RuleSet.model_validate(body)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "rules", "message": e["msg"]}
            for e in exc.errors()
        ]
        raise InvalidParameter(
            f"the rule set is not valid: {errors[0]['field']}: {errors[0]['message']}",
            parameter="rules",
            errors=errors[:50],
        ) from exc


def check(measured: float | None, rule: Rule | None, name: str) -> dict[str, Any]:
    """A measured figure held against one rule: pass, fail, no rule found, or not measured."""
    entry: dict[str, Any] = {"rule": name, "measured": None if measured is None else round(measured, 3)}
    if rule is None:
        return {**entry, "status": "no rule found"}
    entry.update(limit=rule.value, standing=rule.standing, source=rule.source)
    if measured is None:
        return {**entry, "status": "not measured"}
    ok = measured >= rule.value if name == "min_green" else measured <= rule.value + 1e-9
    return {**entry, "status": "pass" if ok else "fail"}
