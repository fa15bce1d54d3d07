"""Server-rendered SVG sparklines for the device page (no chart library needed for two series)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 600
HEIGHT = 120


@dataclass(frozen=True)
class Series:
    label: str
    points: str  # the SVG polyline "x,y x,y …"
    latest: float | None


def percent_series(label: str, values: Sequence[float | None]) -> Series:
    """Scale 0–100 % values, oldest first, onto the chart's width and height."""
    known = [(index, value) for index, value in enumerate(values) if value is not None]
    if not known:
        return Series(label=label, points="", latest=None)
    step = WIDTH / max(1, len(values) - 1)
    points = " ".join(f"{index * step:.1f},{HEIGHT - value / 100 * HEIGHT:.1f}" for index, value in known)
    return Series(label=label, points=points, latest=known[-1][1])
