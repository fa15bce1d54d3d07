"""``manage.py check`` (and every server start) refuses a notification target it would not call."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ValidationError

from monitoring.notifications import slack_target


@register()
def slack_webhook_is_a_valid_target(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if not settings.FLEETWATCH_SLACK_WEBHOOK_URL:
        return []
    try:
        slack_target(settings.FLEETWATCH_SLACK_WEBHOOK_URL)
    except ValidationError as refused:
        return [Error(f"FLEETWATCH_SLACK_WEBHOOK_URL is refused: {' '.join(refused.messages)}",
                      hint="Give the incoming webhook's https:// address as Slack shows it.",
                      id="fleetwatch.E001")]
    return []
