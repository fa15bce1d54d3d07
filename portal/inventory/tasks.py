"""django-q2 tasks of the device inventory: thin, they call services as the system actor."""

from portal.builtin_jobs import BuiltInJob
from portal.inventory.telemetry import prune_inventory_history, prune_metric_history, sweep_silent_agents


def sweep_silent_agents_task() -> int:
    """Mark offline the devices whose agents stopped reporting."""
    return sweep_silent_agents()


def prune_metric_history_task() -> int:
    """Drop metric samples past their retention."""
    return prune_metric_history()


def prune_inventory_history_task() -> int:
    """Drop inventory history past its retention."""
    return prune_inventory_history()


BUILT_IN_JOBS = (
    BuiltInJob(name="agents: mark silent devices offline", func="portal.inventory.tasks.sweep_silent_agents_task",
               minutes=1, description="Devices whose agents missed three heartbeats go offline."),
    BuiltInJob(name="agents: prune metric history", func="portal.inventory.tasks.prune_metric_history_task",
               minutes=24 * 60, description="Keeps FLEETWATCH_METRICS_RETENTION_DAYS of CPU/memory history."),
    BuiltInJob(name="agents: prune inventory history", func="portal.inventory.tasks.prune_inventory_history_task",
               minutes=24 * 60, description="Keeps FLEETWATCH_INVENTORY_HISTORY_DAYS of software, service and "
                                            "patch history."),
)
