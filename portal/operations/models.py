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
