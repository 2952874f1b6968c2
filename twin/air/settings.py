"""The air-quality pilot's settings (prefix ``TWIN_AIR_``)."""

from __future__ import annotations

from pydantic import Field, HttpUrl
from pydantic_settings import BaseSettings, SettingsConfigDict

from twin.platform.settings import PROJECT_ROOT


class AirSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TWIN_AIR_", env_file=PROJECT_ROOT / ".env", extra="ignore")

    live_url: HttpUrl = Field(
        default=HttpUrl("https://data.sensor.community/airrohr/v1/filter/area=42.675,23.325,3"),
        description="The sensor.community live API `twin air poll` asks (readings of the last 5 minutes "
        "within an area: LAT,LON,KM; the default is Lozenets and 3 km around it).",
    )
    poll_seconds: int = Field(
        default=300,
        ge=60,
        le=3600,
        description="Seconds between two polls of `twin air poll` (the live API holds 5 minutes).",
    )
