"""The durable event log that carries realtime events between processes in embedded mode."""

from django.db import models

from portal.access import SystemOnly


class RealtimeEvent(models.Model):
    """One published event, written in the publisher's transaction and relayed by every server process.

    Only used without Redis: the in-process channel layer cannot reach another process, so a task
    worker's event travels through this table to each daphne process, which relays it locally.
    Rows are pruned after a few minutes; they are plumbing, not history (the audit log is history).
    """

    visibility = SystemOnly()

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    group = models.CharField(max_length=100)
    message = models.JSONField()

    class Meta:
        ordering = ["id"]
        db_table = "realtime_realtimeevent"  # made by the realtime app before events had an app of their own

    def __str__(self) -> str:
        return f"{self.group}: {self.message.get('event', '?')}"
