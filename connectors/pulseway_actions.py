"""Pulseway automation scripts run on Pulseway-managed devices, recorded as actions in our own history.

`POST /automation/scripts/{id}/run` with the device identifier starts it; the execution is then polled
for state, output and exit code until it ends or the action's timeout passes. Pulseway v3 has no call
to stop an execution: cancelling in Fleetwatch stops following it and says so. Reboot and patching on
Pulseway devices go through Pulseway scripts or tasks the same way (v3 has no direct endpoint).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from connectors.http import ConnectorError
from connectors.models import Connector
from connectors.pulseway import PulsewayClient, client_for
from connectors.selectors import pulseway_record_of
from portal.access import Actor, Role, ensure_visible, require_role, rows_for_system
from portal.actions.delivery import append_output, finish_action, record_started, store_result
from portal.actions.models import Action, ActionStatus, ActionType
from portal.actions.requests import default_expiry, requested_event
from portal.events.publish import publish
from portal.inventory.models import Device

FINAL_STATES = {"successful": ActionStatus.SUCCEEDED, "failed": ActionStatus.FAILED,
                "stopped": ActionStatus.CANCELLED}


def pulseway_connector_of(device: Device) -> Connector | None:
    """The Pulseway connector that holds this device (None when Pulseway does not manage it)."""
    record = pulseway_record_of(device)
    return record.connector if record else None


@transaction.atomic
def queue_pulseway_script(*, actor: Actor, device: Device, script_id: str,
                          variables: list[dict[str, Any]] | None = None, timeout_seconds: int = 900) -> Action:
    """Ask Pulseway to run one of its scripts on a device it manages (operators); followed as an action."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=device.company_id)
    record = pulseway_record_of(device)
    if record is None:
        raise ValidationError("Pulseway does not manage this device (no enabled Pulseway connector holds it).")
    connector, identifier = record.connector, record.external_id
    script_id = str(script_id).strip()
    if not script_id or len(script_id) > 64 or "/" in script_id:
        raise ValidationError({"script_id": "Give the Pulseway script's id."})
    if not 10 <= timeout_seconds <= 24 * 3600:
        raise ValidationError({"timeout_seconds": "Between 10 seconds and 24 hours."})
    action = rows_for_system(Action).create(
        company_id=device.company_id, device=device, device_label=device.hostname[:255],
        action_type=ActionType.PULSEWAY_SCRIPT,
        title=f"Pulseway script {script_id}", status=ActionStatus.QUEUED, timeout_seconds=timeout_seconds,
        payload={"connector_id": connector.pk, "script_id": script_id, "device_identifier": identifier,
                 "variables": variables or []},
        requested_by_id=actor.user_id, requested_by_label=actor.label[:150], expires_at=default_expiry())
    requested_event(actor, action).save()
    publish("action.updated", company_id=action.company_id, id=action.pk, device_id=device.pk)
    transaction.on_commit(lambda: _start(action.pk))
    return action


def _start(action_id: int) -> None:
    from django_q.tasks import async_task

    async_task("connectors.tasks.follow_pulseway_script", action_id)


def follow_pulseway_script(*, action_id: int, sleep: Callable[[float], None] = time.sleep) -> str:
    """Start the execution in Pulseway, then follow it to its end (runs on the task cluster)."""
    action = rows_for_system(Action).select_related("device").get(pk=action_id)
    if action.is_finished:
        return action.status
    payload = action.payload
    connector = rows_for_system(Connector).filter(pk=payload.get("connector_id")).first()
    if connector is None:
        return _finish(action, ActionStatus.FAILED, error="The Pulseway connector was deleted.")
    client = client_for(connector)
    api = PulsewayClient(client)
    try:
        execution_id = payload.get("execution_id") or _run(action, api)
        return _follow(action, api, execution_id, sleep)
    except ConnectorError as error:
        return _finish(action, ActionStatus.FAILED, error=f"Pulseway: {error}")
    finally:
        client.close()


def _run(action: Action, api: PulsewayClient) -> str:
    payload = action.payload
    execution_id = api.run_script(script_id=payload["script_id"], device_identifier=payload["device_identifier"],
                                  variables=payload.get("variables") or [])
    with transaction.atomic():
        locked = rows_for_system(Action).select_for_update().get(pk=action.pk)
        locked.payload = {**locked.payload, "execution_id": execution_id}
        if locked.status == ActionStatus.QUEUED:
            locked.status, locked.sent_at = ActionStatus.SENT, timezone.now()
        locked.save(update_fields=["payload", "status", "sent_at"])
        publish("action.updated", company_id=locked.company_id, id=locked.pk, device_id=locked.device_id)
    action.payload = locked.payload
    return execution_id


def _follow(action: Action, api: PulsewayClient, execution_id: str, sleep: Callable[[float], None]) -> str:
    payload = action.payload
    deadline = timezone.now() + timedelta(seconds=action.timeout_seconds)
    shown = ""
    while True:
        execution = api.execution(script_id=payload["script_id"], device_identifier=payload["device_identifier"],
                                  execution_id=execution_id)
        state = str(execution.get("State") or "").lower()
        output = str(execution.get("Output") or "")
        if state in FINAL_STATES:
            exit_code = execution.get("ExitCode")
            store_result(device_id=action.device_id, action_id=action.pk, status=FINAL_STATES[state],
                         exit_code=exit_code if isinstance(exit_code, int) else None, stdout=output, stderr="",
                         stdout_truncated=False, stderr_truncated=False, started_at=None, finished_at=None,
                         result={"execution_id": execution_id, "state": execution.get("State"),
                                 "variable_outputs": execution.get("VariableOutputs") or []},
                         error="" if state == "successful" else f"Pulseway reports the execution {state}.",
                         notify_agent=False)
            return FINAL_STATES[state]
        record_started(device_id=action.device_id, action_id=action.pk, started_at=None)
        if output.startswith(shown) and len(output) > len(shown):
            append_output(device_id=action.device_id, action_id=action.pk, stdout=output[len(shown):], stderr="")
            shown = output
        current = rows_for_system(Action).only("cancel_requested_at").get(pk=action.pk)
        if current.cancel_requested_at is not None:
            return _finish(action, ActionStatus.CANCELLED, error="Cancelled in Fleetwatch; Pulseway v3 has no call to "
                           "stop an execution, so it may still finish there.")
        if timezone.now() >= deadline:
            return _finish(action, ActionStatus.TIMED_OUT, error=f"Pulseway had not finished after "
                           f"{action.timeout_seconds} s; it may still finish there.")
        sleep(settings.FLEETWATCH_PULSEWAY_POLL_SECONDS)


def _finish(action: Action, status: str, *, error: str) -> str:
    with transaction.atomic():
        locked = rows_for_system(Action).select_for_update().get(pk=action.pk)
        if not locked.is_finished:
            finish_action(action=locked, status=status, error=error, notify_agent=False)
    return status
