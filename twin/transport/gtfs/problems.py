"""Collecting problems: every one counted, at most MAX_PROBLEMS of each severity kept, values quoted
and cut so a huge field cannot make a huge message."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.transport.gtfs.feed import FEED, MAX_PROBLEMS, VALUE_CHARS, FeedError, Problem, Severity

if TYPE_CHECKING:
    from twin.transport.gtfs.csvfile import Table


# --------------------------------------------------------------------------------------------------
# Problems


def cut(value: object) -> str:
    text = str(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def quote(value: object) -> str:
    return f"'{cut(value)}'"


def quoting(shown: np.ndarray[Any, Any], before: str, after: str = "") -> Callable[[int], str]:
    """A row's message quoting its value in ``shown``."""
    return lambda pos: f"{before}{quote(shown[pos])}{after}"


class Problems:
    """Collects problems, materialising at most MAX_PROBLEMS per severity but counting all."""

    def __init__(self) -> None:
        self.kept: dict[Severity, list[Problem]] = {"error": [], "warning": []}
        self.count: dict[Severity, int] = {"error": 0, "warning": 0}

    def add(self, severity: Severity, file: str, line: int | None, column: str | None, message: str) -> None:
        self.count[severity] += 1
        if len(self.kept[severity]) < MAX_PROBLEMS:
            self.kept[severity].append(Problem(severity, file, line, column, message))

    def rows(
        self,
        severity: Severity,
        table: Table,
        mask: np.ndarray[Any, Any],
        column: str | None,
        message: Callable[[int], str],
    ) -> int:
        """One problem per row of ``mask`` (bool per row); ``message`` gets the row's position."""
        positions = np.flatnonzero(mask)
        room = max(0, MAX_PROBLEMS - len(self.kept[severity]))
        for pos in positions[:room].tolist():
            self.kept[severity].append(
                Problem(severity, table.file, int(table.lines[pos]), column, message(pos))
            )
        self.count[severity] += len(positions)
        return len(positions)

    def _capped(self, severity: Severity) -> list[Problem]:
        kept = list(self.kept[severity])
        omitted = self.count[severity] - len(kept)
        if omitted:
            kept.append(Problem(severity, FEED, None, None, f"{omitted} more {severity}s omitted"))
        return kept

    def raise_if_errors(self) -> None:
        if self.count["error"]:
            raise FeedError(self._capped("error") + self._capped("warning"), self.count["error"])

    def warnings(self) -> list[Problem]:
        return self._capped("warning")
