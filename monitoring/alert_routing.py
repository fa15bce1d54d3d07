"""Alert routing and self-healing: each policy's routes say where its alerts go (from a severity up): email,
Slack, a generic webhook (JSON POST), or a library script run on the alert's device. Events (opened, still open,
resolved) become notifications first, rows of the alert's timeline; they are sent at once and, when a channel
fails, retried with backoff until they go or are given up, every attempt visible on the alert's page."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from connectors.freshservice import open_ticket
from connectors.selectors import connectors_for
from monitoring.models import (
    Alert,
    AlertNotification,
    AlertRoute,
    NotificationStatus,
    RouteKind,
)
from portal.access import Actor, rows_for_system, system_actor
from portal.actions.models import Script
from portal.actions.requests import queue_action
from portal.actions.specs import script_spec
from portal.inventory.models import Device
from portal.policies.models import Policy
from portal.policies.services import require_policy_writer
from portal.writes import delete_row, save_changes, save_new

logger = logging.getLogger(__name__)
ROUTE_FIELDS = ("name", "kind", "min_severity", "emails", "url", "script", "connector", "on_open", "on_resolve",
                "renotify_minutes", "enabled")
MAX_ATTEMPTS = 6  # 1, 2, 4, 8 and 16 minutes apart: about half an hour of retries
MAX_BACKOFF_MINUTES = 60


class Undeliverable(Exception):
    """A notification that no retry can send (its route is gone, the alert is not about a device…)."""


# --- routes ---------------------------------------------------------------------------------------------

def may_change_route(actor: Actor, route: AlertRoute) -> bool:
    """Whoever may change the route's policy (they alone see where it sends)."""
    try:
        require_policy_writer(actor, route.policy.company_id)
    except (PermissionDenied, ObjectDoesNotExist):
        return False
    return True


def _check_connector(actor: Actor, connector: Any) -> None:
    """Connectors span every company: only admins who see all companies point a route at one."""
    if connector is not None and not connectors_for(actor=actor).filter(pk=connector.pk).exists():
        raise PermissionDenied("Tickets through a connector need an admin who sees all companies.")


@transaction.atomic
def create_route(*, actor: Actor, policy: Policy, name: str, kind: str, **fields: Any) -> AlertRoute:
    """Add a route to a policy (whoever may change the policy)."""
    require_policy_writer(actor, policy.company_id)
    _check_connector(actor, fields.get("connector"))
    return save_new(actor=actor, instance=AlertRoute(policy=policy, name=name, kind=kind,
                                                     **{k: v for k, v in fields.items() if k in ROUTE_FIELDS}))


@transaction.atomic
def update_route(*, actor: Actor, alertroute: AlertRoute, **changes: Any) -> AlertRoute:
    require_policy_writer(actor, alertroute.policy.company_id)
    _check_connector(actor, changes.get("connector"))
    if "url" in changes and not changes["url"]:
        changes.pop("url")  # empty means "keep the stored one"
    return save_changes(actor=actor, instance=alertroute, changes=changes, editable=ROUTE_FIELDS)


@transaction.atomic
def delete_route(*, actor: Actor, alertroute: AlertRoute) -> None:
    require_policy_writer(actor, alertroute.policy.company_id)
    delete_row(actor=actor, instance=alertroute)


# --- events ---------------------------------------------------------------------------------------------

def queue_event(*, alerts: list[Alert], event: str) -> int:
    """Notifications of ``event`` for each alert, through the routes of its check's policy that take it."""
    if not alerts:
        return 0
    routes: dict[int, list[AlertRoute]] = {}
    for route in rows_for_system(AlertRoute).filter(
            enabled=True, policy_id__in={alert.check_rule.policy_id for alert in alerts}):
        routes.setdefault(route.policy_id, []).append(route)
    wanted = {AlertNotification.Event.OPENED: "on_open", AlertNotification.Event.RESOLVED: "on_resolve",
              AlertNotification.Event.REMINDER: "renotify_minutes"}[event]
    rows = [AlertNotification(alert=alert, route=route, route_label=f"{route.get_kind_display()}: {route.name}"[:200],
                              event=event)
            for alert in alerts for route in routes.get(alert.check_rule.policy_id, [])
            if route.takes(alert.severity) and getattr(route, wanted)]
    rows_for_system(AlertNotification).bulk_create(rows)
    return len(rows)


def queue_reminders(*, now: Any = None) -> int:
    """A "still open" notification per unresolved alert and route asking for one every N minutes, when the
    route's last notification of that alert is older than that."""
    now = now or timezone.now()
    reminders: list[AlertNotification] = []
    for route in rows_for_system(AlertRoute).filter(enabled=True, renotify_minutes__isnull=False):
        last_sent = dict(rows_for_system(AlertNotification).filter(route=route).order_by().values("alert_id")
                         .annotate(last=Max("created_at")).values_list("alert_id", "last"))
        due_before = now - timedelta(minutes=route.renotify_minutes)
        for alert in rows_for_system(Alert).filter(check_rule__policy_id=route.policy_id, resolved_at__isnull=True,
                                                   acknowledged_at__isnull=True):
            if route.takes(alert.severity) and (last_sent.get(alert.pk) or due_before) <= due_before:
                reminders.append(AlertNotification(
                    alert=alert, route=route, event=AlertNotification.Event.REMINDER,
                    route_label=f"{route.get_kind_display()}: {route.name}"[:200]))
    rows_for_system(AlertNotification).bulk_create(reminders)
    return len(reminders)


# --- delivery -------------------------------------------------------------------------------------------

def deliver_due(*, now: Any = None) -> dict[str, int]:
    """Send every notification whose time has come; a failure is retried later with a doubling delay."""
    now = now or timezone.now()
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    due = rows_for_system(AlertNotification).filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now) \
        .select_related("alert__company", "alert__check_rule__policy", "route__script").order_by("pk")[:500]
    for notification in due:
        try:
            _send(notification)
        except Exception as error:  # a channel's failure is the notification's, never the loop's
            notification.attempts += 1
            notification.last_error = (" ".join(error.messages) if isinstance(error, ValidationError)
                                       else str(error) if isinstance(error, Undeliverable)
                                       else f"{type(error).__name__}: {error}")[:500]
            if notification.attempts >= MAX_ATTEMPTS or isinstance(error, Undeliverable | ValidationError):
                notification.status = NotificationStatus.FAILED
                counts["failed"] += 1
            else:
                delay = min(2 ** (notification.attempts - 1), MAX_BACKOFF_MINUTES)
                notification.next_attempt_at = now + timedelta(minutes=delay)
                counts["retrying"] += 1
            notification.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            continue
        notification.attempts += 1
        notification.status, notification.sent_at = NotificationStatus.SENT, timezone.now()
        notification.save(update_fields=["attempts", "status", "sent_at", "action", "last_error", "external_ref"])
        counts["sent"] += 1
    return counts


def _link(alert: Alert) -> str:
    return f"{settings.FLEETWATCH_BASE_URL.rstrip('/')}/alerts/{alert.pk}/"


def _summary(notification: AlertNotification) -> str:
    alert = notification.alert
    what = {"opened": "", "reminder": "still open: ", "resolved": "resolved: "}[notification.event]
    # Names and messages come from users and devices: one line, whatever they hold.
    return " ".join(f"{alert.get_severity_display()} — {alert.company.name}: {what}{alert.message}".split())


def _send(notification: AlertNotification) -> None:
    route, alert = notification.route, notification.alert
    if route is None:
        raise Undeliverable("The route was deleted before this could be sent.")
    if route.kind == RouteKind.EMAIL:
        send_mail(f"[Fleetwatch] {_summary(notification)}"[:200], f"{_summary(notification)}\n{_link(alert)}\n", None,
                  route.emails)
    elif route.kind == RouteKind.SLACK:
        _post(route, {"text": f"*{_summary(notification)}*\n<{_link(alert)}|Open in Fleetwatch>"})
    elif route.kind == RouteKind.WEBHOOK:
        _post(route, {"event": notification.event, "alert": {
            "id": alert.pk, "severity": alert.severity, "status": alert.status, "message": alert.message,
            "object": alert.object_label, "object_key": alert.object_key, "company": alert.company.name,
            "check": alert.check_rule.name, "policy": alert.check_rule.policy.name,
            "opened_at": alert.opened_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None, "url": _link(alert)}})
    elif route.kind == RouteKind.FRESHSERVICE:
        if notification.event != AlertNotification.Event.OPENED:
            notification.external_ref = "(a ticket is opened when the alert opens only)"
            return
        ticket = open_ticket(route.connector, subject=f"[Fleetwatch] {_summary(notification)}",
                             description=f"{alert.message}<br>Object: {alert.object_label}<br>{_link(alert)}",
                             requester_email=route.emails[0], severity=alert.severity)
        notification.external_ref = f"Freshservice ticket #{ticket}"
    else:
        notification.action = _run_script(alert, route.script)


def _post(route: AlertRoute, body: dict[str, Any]) -> None:
    response = httpx.post(route.url, json=body, timeout=10, follow_redirects=False)
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code} from the webhook")


def _run_script(alert: Alert, script: Script) -> Any:
    kind, _, raw_id = alert.object_key.partition(":")
    device = rows_for_system(Device).filter(pk=int(raw_id)).first() if kind == "device" and raw_id.isdigit() else None
    if device is None:
        raise Undeliverable("Only an alert about a device can run a script.")
    actor = system_actor(f"alert {alert.pk}")
    return queue_action(actor=actor, device=device, spec=script_spec(actor=actor, script=script))
