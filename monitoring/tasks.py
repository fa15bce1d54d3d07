"""django-q2 entry points for network monitoring; each only calls a service."""

from __future__ import annotations

from monitoring.camera_checks import check_due_cameras, check_one
from monitoring.evaluation import evaluate_all_checks
from monitoring.notifications import send_daily_summary
from monitoring.polling import poll_claimed, poll_due_devices, poll_one, prune_network_history
from monitoring.script_checks import prune_check_runs
from portal.builtin_jobs import BuiltInJob


def poll_due_network_devices_task() -> str:
    queued = poll_due_devices()
    return f"queued {queued['chunks']} chunk(s)" if queued else "nothing due"


def poll_network_chunk_task(claim: str) -> dict[str, int]:
    """One chunk of a polling cycle: the devices still carrying ``claim``."""
    return poll_claimed(claim=claim)


def poll_network_device_task(device_id: int) -> dict[str, int]:
    """A technician's "poll now"."""
    return poll_one(device_id=device_id)


def check_camera_task(camera_id: int) -> dict[str, int]:
    """A technician's "check now"."""
    return check_one(camera_id=camera_id)


def prune_network_history_task() -> int:
    return prune_network_history() + prune_check_runs()


def check_due_cameras_task() -> str:
    counts = check_due_cameras()
    return "previous cycle still running; skipped" if counts is None else f"checked: {counts or 'nothing due'}"


def evaluate_checks_task() -> dict[str, int]:
    return evaluate_all_checks()


def daily_alert_summary_task() -> int:
    return send_daily_summary()


BUILT_IN_JOBS = (
    BuiltInJob(name="network: poll due SNMP devices", func="monitoring.tasks.poll_due_network_devices_task",
               minutes=1, description="Claims each network device whose own interval (5 minutes by default) "
                                      "has passed and queues them in chunks, one task per worker; a device "
                                      "still being polled is not claimed again."),
    BuiltInJob(name="network: check due cameras", func="monitoring.tasks.check_due_cameras_task",
               minutes=1, description="RTSP-checks each camera when its interval (10 minutes by default) has "
                                      "passed; a cycle still running makes the next one skip."),
    BuiltInJob(name="alerts: evaluate checks", func="monitoring.tasks.evaluate_checks_task", minutes=1,
               description="Counts failures per check and object, opens, updates and resolves alerts, and "
                           "notifies about new high and critical ones."),
    BuiltInJob(name="alerts: daily summary email", func="monitoring.tasks.daily_alert_summary_task",
               minutes=24 * 60, description="Emails every unresolved alert to FLEETWATCH_ALERT_EMAILS."),
    BuiltInJob(name="network: prune poll history", func="monitoring.tasks.prune_network_history_task",
               minutes=24 * 60, description="Keeps FLEETWATCH_NETWORK_RETENTION_DAYS of poll history, and two "
                                              "days of which actions carried script and event-log check runs."),
)
