"""Telling people about alerts: email and Slack at once for high and critical ones, and a daily summary
of every unresolved alert."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.utils import timezone

from monitoring.models import (
    Alert,
)
from portal.access import rows_for_system
from portal.targets import TargetUrl, parse_url
from portal.tenancy.models import Company

logger = logging.getLogger(__name__)


def _alert_link(alert: Alert) -> str:
    return f"{settings.FLEETWATCH_BASE_URL.rstrip('/')}/alerts/{alert.pk}/"


def notify(*, alerts: list[Alert]) -> None:
    """Email and Slack, at once, for each alert (company and a link in both). Failures are logged; the
    alert stays open and unmarked, so the daily summary still lists it."""
    for alert in alerts:
        company = rows_for_system(Company).get(pk=alert.company_id)
        # Names and messages come from users and devices: one line, whatever they hold.
        subject = " ".join(f"[Fleetwatch] {alert.get_severity_display()} — {company.name}: {alert.message}"
                           .split())[:200]
        body = (f"{alert.message}\nCompany: {company.name}\nSeverity: {alert.get_severity_display()}\n"
                f"Opened: {alert.opened_at:%Y-%m-%d %H:%M %Z}\n{_alert_link(alert)}\n")
        delivered = False
        if settings.FLEETWATCH_ALERT_EMAILS:
            try:
                send_mail(subject, body, None, settings.FLEETWATCH_ALERT_EMAILS)
                delivered = True
            except Exception:
                logger.exception("could not email alert %s", alert.pk)
        webhook = slack_webhook()
        if webhook:
            try:
                response = httpx.post(webhook, timeout=10, json={
                    "text": f"*{alert.get_severity_display()}* — {company.name}: {alert.message}\n"
                            f"<{_alert_link(alert)}|Open in Fleetwatch>"})
                response.raise_for_status()
                delivered = True
            except httpx.HTTPError:
                logger.exception("could not post alert %s to Slack", alert.pk)
        if delivered:
            rows_for_system(Alert).filter(pk=alert.pk).update(notified_at=timezone.now())


def slack_webhook() -> str:
    """The configured Slack webhook rebuilt from its checked parts; empty when unset or refused (logged, and
    ``manage.py check`` says why)."""
    configured = settings.FLEETWATCH_SLACK_WEBHOOK_URL
    if not configured:
        return ""
    try:
        return slack_target(configured).url
    except ValidationError as refused:
        logger.error("FLEETWATCH_SLACK_WEBHOOK_URL is refused, no Slack message sent: %s", " ".join(refused.messages))
        return ""


def slack_target(url: str) -> TargetUrl:
    return parse_url(url, schemes={"https": 443, "http": 80}, what="Slack webhook URL",
                     plain_http_only_on_loopback=True)


def send_daily_summary() -> int:
    """One email with every unresolved alert, per the last day's opened and resolved counts."""
    if not settings.FLEETWATCH_ALERT_EMAILS:
        return 0
    since = timezone.now() - timedelta(days=1)
    unresolved = list(rows_for_system(Alert).filter(resolved_at__isnull=True).select_related("company")
                      .order_by("company__name", "-severity"))
    opened = rows_for_system(Alert).filter(opened_at__gte=since).count()
    resolved = rows_for_system(Alert).filter(resolved_at__gte=since).count()
    lines = [f"Last 24 hours: {opened} alert(s) opened, {resolved} resolved. Unresolved now: {len(unresolved)}.", ""]
    lines += [f"- {a.company.name}: {a.get_severity_display()} — {a.message} ({a.get_status_display()})"
              for a in unresolved]
    send_mail("[Fleetwatch] Daily alert summary", "\n".join(lines), None, settings.FLEETWATCH_ALERT_EMAILS)
    return len(unresolved)
