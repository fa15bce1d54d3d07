"""Server processes that beat: each web process writes its row every few seconds, so an operator sees which
processes are alive, on which host, running which version, and how many agents each holds."""

from __future__ import annotations

from django.db import models

from portal.access import MspAdminsOnly


class ServerProcess(models.Model):
    visibility = MspAdminsOnly()  # hosts and pids of the server itself: for administrators of the whole MSP

    class Kind(models.TextChoices):
        WEB = "web", "web (daphne)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    version = models.CharField(max_length=32)
    started_at = models.DateTimeField()
    last_beat_at = models.DateTimeField()
    agents_connected = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "server process"
        constraints = [models.UniqueConstraint(fields=["kind", "host", "pid"], name="one_row_per_server_process")]
        ordering = ["kind", "host", "pid"]

    def __str__(self) -> str:
        return f"{self.kind} {self.host}:{self.pid}"


class AgentRollout(models.Model):
    """The agent version endpoints are offered, to a ring of the fleet: a dynamic group, and/or a percentage
    of devices (chosen by a stable hash of device and version, so a device stays in or out as the ring
    widens). Only the newest rollout is active; stopping it offers nothing more (installed agents stay)."""

    visibility = MspAdminsOnly()

    version = models.CharField(max_length=32)
    percent = models.PositiveSmallIntegerField(help_text="Share of every company's devices offered the version "
                                                         "(0 to 100).")
    dynamic_group = models.ForeignKey("dynamic_groups.DynamicGroup", on_delete=models.SET_NULL, null=True,
                                      blank=True, related_name="+", help_text="Its devices are offered the version "
                                                                              "first, whatever the percentage.")
    active = models.BooleanField(default=True)
    started_at = models.DateTimeField(auto_now_add=True)
    started_by_label = models.CharField(max_length=150)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"agent {self.version} to {self.percent}%"
