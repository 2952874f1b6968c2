"""What the Sofiaplan files say Lozenets is: its seven neighbourhoods, by id (checked by hand)."""

from __future__ import annotations

LOZENETS_NEIGHBOURHOODS = {
    133: "жк. Лозенец",
    158: "Промишлена Зона Хладилника",
    164: "кв. Хладилника",
    168: "жилищна група Зоопарк",
    171: "Зоопарк",
    264: "кв. Витоша",
    265: "жк. Градина",
}
