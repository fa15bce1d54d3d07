"""Server-rendered SVG sparklines for the device page (no chart library needed for two series)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from portal.inventory.selectors import metric_samples_for

if TYPE_CHECKING:
    from portal.access import Actor
    from portal.inventory.models import Device

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


def device_charts(*, actor: Actor, device: Device, samples: int = 120) -> list[Series]:
    """The CPU and memory series of a device's last ``samples`` heartbeats, read through the actor's scope."""
    recent = list(reversed(metric_samples_for(actor=actor).filter(device=device)
                           .values_list("cpu_percent", "memory_percent")[:samples]))
    return [percent_series("CPU", [cpu for cpu, _ in recent]),
            percent_series("Memory", [memory for _, memory in recent])]


def compliance_series(days: Sequence[tuple[object, object]]) -> list[Series]:
    """Fully patched and missing-critical shares (% of managed devices) per day, oldest first, for the
    compliance pages' 90-day chart."""
    def share(name: str) -> list[float | None]:
        return [figures.percent(name) for _, figures in days]  # type: ignore[attr-defined]

    return [percent_series("Fully patched", share("fully_patched")),
            percent_series("Missing critical updates", share("missing_critical"))]
