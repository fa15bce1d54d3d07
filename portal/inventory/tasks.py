"""django-q2 tasks of the device inventory: thin, they call services as the system actor."""

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
