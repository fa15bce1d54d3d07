"""Reading the audit log."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.access import Actor, visible_to
from portal.audit.models import AuditEvent


def audit_events_for(*, actor: Actor) -> QuerySet[AuditEvent]:
    """Audit events of the companies the actor may see; company-less events reach all-company actors only."""
    return visible_to(AuditEvent.objects.select_related("user"), actor)
