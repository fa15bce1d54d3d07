"""Figures read from the database when Prometheus scrapes: the same for every host, cheap at any fleet size
(open actions through the status index, finished ones of the last hour, one aggregate each)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from portal.access import rows_for_system
from portal.actions.models import Action, ActionStatus
from portal.inventory.models import Device
from portal.operations.selectors import processes_seen

OPEN = [ActionStatus.WAITING, ActionStatus.QUEUED, ActionStatus.SENT, ActionStatus.RUNNING]


class FleetCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        open_actions = GaugeMetricFamily("fleetwatch_actions_open", "Actions not finished, by state.",
                                         labels=["state"])
        counts = dict(rows_for_system(Action).filter(status__in=OPEN).values_list("status")
                      .annotate(n=Count("id")).values_list("status", "n"))
        for state in OPEN:
            open_actions.add_metric([state], counts.get(state, 0))
        yield open_actions

        finished = GaugeMetricFamily("fleetwatch_actions_finished_last_hour", "Actions finished in the last hour, "
                                     "by outcome.", labels=["state"])
        for state, count in (rows_for_system(Action).filter(finished_at__gte=now - timedelta(hours=1))
                             .values_list("status").annotate(n=Count("id")).values_list("status", "n")):
            finished.add_metric([state], count)
        yield finished

        devices = GaugeMetricFamily("fleetwatch_devices", "Devices by status.", labels=["status"])
        for status, count in rows_for_system(Device).values_list("status").annotate(n=Count("id")).values_list(
                "status", "n"):
            devices.add_metric([status], count)
        yield devices

        yield GaugeMetricFamily("fleetwatch_task_queue_depth", "Tasks waiting in the django-q2 queue.",
                                value=get_broker().queue_size())
        overdue = Schedule.objects.filter(next_run__lt=now).order_by("next_run").values_list("next_run",
                                                                                               flat=True).first()
        yield GaugeMetricFamily("fleetwatch_task_schedule_overdue_seconds", "How late the most overdue recurring job "
                                "is (0 when none is): the task cluster is behind or down.",
                                value=max(0.0, (now - overdue).total_seconds()) if overdue else 0.0)

        beats = GaugeMetricFamily("fleetwatch_process_seconds_since_beat", "Seconds since each server process "
                                  "(web processes and task clusters, every host) last beat.",
                                  labels=["kind", "host", "pid"])
        for process in processes_seen():
            beats.add_metric([process.kind, process.host, str(process.pid)], process.seconds_since_beat)
        yield beats
