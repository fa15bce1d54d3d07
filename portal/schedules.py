"""Every recurring job of the product, declared in code and synced into django-q2 by one command.

Each app adds its entries here. ``manage.py sync_schedules`` creates missing schedules and corrects
the task and arguments of existing ones, keeping an interval a user changed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    minutes: int
    description: str


SCHEDULES: tuple[ScheduleSpec, ...] = (
    ScheduleSpec(name="agents: mark silent devices offline", func="portal.inventory.tasks.sweep_silent_agents_task",
                 minutes=1, description="Devices whose agents missed three heartbeats go offline."),
    ScheduleSpec(name="agents: prune metric history", func="portal.inventory.tasks.prune_metric_history_task",
                 minutes=24 * 60, description="Keeps FLEETWATCH_METRICS_RETENTION_DAYS of CPU/memory history."),
    ScheduleSpec(name="agents: prune inventory history", func="portal.inventory.tasks.prune_inventory_history_task",
                 minutes=24 * 60, description="Keeps FLEETWATCH_INVENTORY_HISTORY_DAYS of software, service and "
                                              "patch history."),
    ScheduleSpec(name="actions: expire overdue actions", func="portal.actions.tasks.expire_overdue_actions_task",
                 minutes=1, description="Actions no agent picked up before their expiry become expired."),
    ScheduleSpec(name="network: poll due SNMP devices", func="monitoring.tasks.poll_due_network_devices_task",
                 minutes=1, description="Polls each network device when its own interval (5 minutes by default) "
                                        "has passed; a cycle still running makes the next one skip."),
    ScheduleSpec(name="network: check due cameras", func="monitoring.tasks.check_due_cameras_task",
                 minutes=1, description="RTSP-checks each camera when its interval (10 minutes by default) has "
                                        "passed; a cycle still running makes the next one skip."),
    ScheduleSpec(name="alerts: evaluate checks", func="monitoring.tasks.evaluate_checks_task", minutes=1,
                 description="Counts failures per check and object, opens, updates and resolves alerts, and "
                             "notifies about new high and critical ones."),
    ScheduleSpec(name="alerts: daily summary email", func="monitoring.tasks.daily_alert_summary_task",
                 minutes=24 * 60, description="Emails every unresolved alert to FLEETWATCH_ALERT_EMAILS."),
    ScheduleSpec(name="network: prune poll history", func="monitoring.tasks.prune_network_history_task",
                 minutes=24 * 60, description="Keeps FLEETWATCH_NETWORK_RETENTION_DAYS of poll history."),
)
