"""The agent's side of actions on the server: what to deliver, and storing what comes back.

Delivery is at-least-once (every deliverable action is sent again on each new connection); results
are stored idempotently by action id (a second result for a finished action changes nothing), so
nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from portal.actions.finished import run_finished_handlers
from portal.actions.models import (
    DELIVERABLE,
    FINISHED,
    MAX_OUTPUT_CHARS,
    UNFINISHED,
    Action,
    ActionStatus,
    ActionType,
)
from portal.actions.output_settings import SERVER_RESULT_KEYS, apply_output, declarations_of
from portal.actions.references import needs_resolving, resolve_payloads
from portal.actions.signing import sign_envelope
from portal.events.publish import batched_publishing, publish
from portal.events.publish import notify_agent as tell_agent

MAX_ACTIONS_PER_DELIVERY = 50
logger = logging.getLogger(__name__)


def _announce(action: Action) -> None:
    publish("action.updated", company_id=action.company_id, id=action.pk, device_id=action.device_id,
            status=action.status)


def deliverable_actions(*, device_id: int, already_sent: set[int]) -> list[Action]:
    """Queued or sent, unexpired actions of the device in request order, minus those this connection sent."""
    return deliverable_for({device_id: already_sent}).get(device_id, [])


def deliverable_for(requests: dict[int, set[int]]) -> dict[int, list[Action]]:
    """``deliverable_actions`` for many devices in one query: at most MAX_ACTIONS_PER_DELIVERY each."""
    already_sent = set().union(*requests.values())  # action ids are unique, so one exclusion serves all
    ranked = (Action.objects.filter(device_id__in=list(requests), status__in=DELIVERABLE,
                                    expires_at__gt=timezone.now(), cancel_requested_at__isnull=True)
              .exclude(pk__in=already_sent).exclude(action_type=ActionType.PULSEWAY_SCRIPT)
              .only("pk", "company_id", "device_id", "action_type", "status", "payload", "expires_at", "sent_at",
                    "queued_at", "script_id", "script_version")
              .annotate(place=Window(RowNumber(), partition_by=F("device_id"), order_by=F("id").asc()))
              .filter(place__lte=MAX_ACTIONS_PER_DELIVERY).order_by("device_id", "id"))
    found: dict[int, list[Action]] = {}
    for action in ranked:
        found.setdefault(action.device_id, []).append(action)
    return found


def action_frame(action: Action) -> dict[str, Any]:
    """The signed frame for one action. A fresh nonce each delivery; the agent dedups by action id."""
    signed = sign_envelope(action_id=action.pk, device_id=action.device_id, action_type=action.action_type,
                           payload=action.payload, issued=int(timezone.now().timestamp()),
                           expires=int(action.expires_at.timestamp()), queued=int(action.queued_at.timestamp()))
    return {"type": "action", "envelope": signed.envelope, "signature": signed.signature, "payload": action.payload}


def deliver(*, device_id: int, already_sent: set[int]) -> list[dict[str, Any]]:
    """Frames for everything waiting for the device; queued ones become sent."""
    return deliver_many(requests={device_id: already_sent}).get(device_id, [])


def deliver_many(*, requests: dict[int, set[int]]) -> dict[int, list[dict[str, Any]]]:
    """``deliver`` for many devices (device id → the action ids its connection sent already) in one query
    and one short transaction: a roll-out's thousand deliveries cost a few commits, not a thousand."""
    if not requests:
        return {}
    found = deliverable_for(requests)
    actions = [action for device_actions in found.values() for action in device_actions]
    if not actions:
        return {}
    now = timezone.now()
    with transaction.atomic(), batched_publishing():
        unfit = _resolve_references([action for action in actions if needs_resolving(action)])
        if unfit:
            found = {device_id: [a for a in device_actions if a.pk not in unfit]
                     for device_id, device_actions in found.items()}
            actions = [action for action in actions if action.pk not in unfit]
        Action.objects.filter(pk__in=[a.pk for a in actions]).order_by().update(
            delivery_count=F("delivery_count") + 1)
        queued = [a for a in actions if a.status == ActionStatus.QUEUED]
        if queued:
            Action.objects.filter(pk__in=[a.pk for a in queued], status=ActionStatus.QUEUED).order_by().update(
                status=ActionStatus.SENT, sent_at=now)
        for action in queued:
            action.status, action.sent_at = ActionStatus.SENT, now
            _announce(action)
    return {device_id: [action_frame(action) for action in device_actions]
            for device_id, device_actions in found.items()}


def _resolve_references(actions: list[Action]) -> set[int]:
    """Fill the custom-field references of the actions' parameters (saved, so the history shows what was sent);
    an action whose values do not fit fails with why. Returns the ids of those."""
    if not actions:
        return set()
    refused = resolve_payloads(actions)
    fitting = [action for action in actions if action.pk not in refused]
    if fitting:
        Action.objects.bulk_update(fitting, ["payload"])
    for action in Action.objects.select_for_update().filter(pk__in=list(refused), status__in=DELIVERABLE):
        finish_action(action=action, status=ActionStatus.FAILED, error=refused[action.pk])
    return set(refused)


def cancel_frames(*, device_id: int) -> list[dict[str, Any]]:
    """Cancellations the agent may have missed while it was away."""
    return cancel_frames_many(device_ids=[device_id]).get(device_id, [])


def cancel_frames_many(*, device_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """``cancel_frames`` for many devices in one query (only devices with any are in the answer)."""
    frames: dict[int, list[dict[str, Any]]] = {}
    for device_id, action_id in Action.objects.filter(
            device_id__in=device_ids, cancel_requested_at__isnull=False,
            status__in=(ActionStatus.SENT, ActionStatus.RUNNING)).order_by("id").values_list("device_id", "pk"):
        frames.setdefault(device_id, []).append({"type": "action_cancel", "action_id": action_id})
    return frames


def _locked(device_id: int, action_id: int) -> Action | None:
    try:
        return Action.objects.select_for_update().get(pk=action_id, device_id=device_id)
    except Action.DoesNotExist:
        return None


def _capped(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text, False
    return text[:MAX_OUTPUT_CHARS], True


@transaction.atomic
def record_started(*, device_id: int, action_id: int, started_at: datetime | None) -> bool:
    action = _locked(device_id, action_id)
    if action is None:
        return False
    if action.status in (ActionStatus.QUEUED, ActionStatus.SENT):
        action.status = ActionStatus.RUNNING
        action.started_at = started_at or timezone.now()
        action.sent_at = action.sent_at or action.started_at
        action.save(update_fields=["status", "started_at", "sent_at"])
        _announce(action)
    return True


@transaction.atomic
def append_output(*, device_id: int, action_id: int, stdout: str, stderr: str) -> bool:
    """Live output while the action runs (the final result replaces it with the agent's full copy)."""
    action = _locked(device_id, action_id)
    if action is None or action.is_finished:
        return action is not None
    action.stdout, cut_out = _capped(action.stdout + stdout)
    action.stderr, cut_err = _capped(action.stderr + stderr)
    action.stdout_truncated = action.stdout_truncated or cut_out
    action.stderr_truncated = action.stderr_truncated or cut_err
    action.save(update_fields=["stdout", "stderr", "stdout_truncated", "stderr_truncated"])
    publish("action.output", company_id=action.company_id, id=action.pk, device_id=device_id)
    return True


@dataclass(frozen=True)
class AgentReport:
    """What an agent said about one action: its result, or why it refused to run it."""

    device_id: int
    action_id: int
    refused: bool = False
    status: str = ""
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    reason: str = ""
    message: str = ""


def store_result(*, device_id: int, action_id: int, status: str, exit_code: int | None, stdout: str, stderr: str,
                 stdout_truncated: bool, stderr_truncated: bool, started_at: datetime | None,
                 finished_at: datetime | None, result: dict[str, Any], error: str = "",
                 notify_agent: bool = True) -> bool:
    """Store an agent's result once; returns False when the action is unknown to this device.

    ``notify_agent=False`` when the caller is the device's own socket, which delivers what the result
    released (the next profile task) itself instead of going through the channel layer."""
    report = AgentReport(device_id=device_id, action_id=action_id, status=status, exit_code=exit_code, stdout=stdout,
                         stderr=stderr, stdout_truncated=stdout_truncated, stderr_truncated=stderr_truncated,
                         started_at=started_at, finished_at=finished_at, result=result, error=error)
    return store_reports(reports=[report], notify_agent=notify_agent)[0]


def store_refusal(*, device_id: int, action_id: int, reason: str, message: str, notify_agent: bool = True) -> bool:
    """The agent would not run the action (bad signature, expired, replayed, …): it fails, with why."""
    report = AgentReport(device_id=device_id, action_id=action_id, refused=True, reason=reason, message=message)
    return store_reports(reports=[report], notify_agent=notify_agent)[0]


def store_reports(*, reports: list[AgentReport], notify_agent: bool = True) -> list[bool]:
    """Store many agents' results and refusals in one transaction, each once (a second report for a
    finished action changes nothing); for each, whether the action is known to its device. Should one
    report break the batch, each is stored on its own, so it fails alone."""
    try:
        return _store_reports(reports, notify_agent=notify_agent)
    except Exception:
        if len(reports) == 1:
            raise
        logger.exception("a batch of %s action reports failed; storing them one by one", len(reports))
    return [_store_reports([report], notify_agent=notify_agent)[0] for report in reports]


@transaction.atomic
def _store_reports(reports: list[AgentReport], *, notify_agent: bool) -> list[bool]:
    with batched_publishing():
        return _store_locked(reports, notify_agent=notify_agent)


def _store_locked(reports: list[AgentReport], *, notify_agent: bool) -> list[bool]:
    locked = {action.pk: action for action in
              Action.objects.select_for_update().filter(pk__in=[report.action_id for report in reports]).order_by()}
    setting = declarations_of(list(locked.values()))
    known, finished = [], []
    for report in reports:
        action = locked.get(report.action_id)
        if action is None or action.device_id != report.device_id:
            known.append(False)
            continue
        known.append(True)
        if action.is_finished:
            continue  # a redelivered result: already stored, nothing changes
        finished.append(action)
        if report.refused:
            _finish(action, status=ActionStatus.FAILED,
                    error=f"Refused by the agent ({report.reason}): {report.message}")
            continue
        action.exit_code = report.exit_code
        action.stdout, cut_out = _capped(report.stdout)
        action.stderr, cut_err = _capped(report.stderr)
        action.stdout_truncated = report.stdout_truncated or cut_out
        action.stderr_truncated = report.stderr_truncated or cut_err
        action.started_at = action.started_at or report.started_at
        # What the output set is the server's to say: an agent's own claim of it is never kept.
        action.result = {key: value for key, value in report.result.items() if key not in SERVER_RESULT_KEYS}
        if report.status == ActionStatus.SUCCEEDED and action.pk in setting and action.device is not None:
            action.result.update(apply_output(action, setting[action.pk]))
        _finish(action, status=report.status, error=report.error, finished_at=report.finished_at)
    if finished:
        _advance_chains(finished, notify_agent=notify_agent)
    return known


def finish_action(*, action: Action, status: str, error: str = "", finished_at: datetime | None = None,
                  notify_agent: bool = True) -> None:
    """Move an action to a final status and start, or cancel, what waits for it (call inside a transaction)."""
    _finish(action, status=status, error=error, finished_at=finished_at)
    _advance_chains([action], notify_agent=notify_agent)


def _finish(action: Action, *, status: str, error: str = "", finished_at: datetime | None = None) -> None:
    action.status = status
    action.error = error[:2000]
    action.finished_at = finished_at or timezone.now()
    action.save(update_fields=["status", "error", "finished_at", "exit_code", "stdout", "stderr", "stdout_truncated",
                               "stderr_truncated", "started_at", "result"])
    run_finished_handlers(action)
    _announce(action)


def _advance_chains(finished: list[Action], *, notify_agent: bool) -> None:
    """What waits for the finished actions: queued after a success (or an allowed failure), else cancelled
    with the rest of its chain. One query and one update for all of them."""
    by_id = {action.pk: action for action in finished}
    followers = list(Action.objects.select_for_update().filter(after_id__in=list(by_id), status=ActionStatus.WAITING)
                     .order_by("pk"))
    released, stopped = [], []
    for follower in followers:
        before = by_id[follower.after_id]
        go_on = before.status == ActionStatus.SUCCEEDED or (
            before.continue_on_error and before.status in (ActionStatus.FAILED, ActionStatus.TIMED_OUT))
        (released if go_on else stopped).append((follower, before))
    if released:
        Action.objects.filter(pk__in=[follower.pk for follower, _ in released]).order_by().update(
            status=ActionStatus.QUEUED)
    for follower, _ in released:
        follower.status = ActionStatus.QUEUED
        _announce(follower)
        if notify_agent:
            tell_agent(follower.device_id)
    for follower, before in stopped:
        finish_action(action=follower, status=ActionStatus.CANCELLED,
                      error=f"Not run: the earlier task {before.title!r} {before.get_status_display().lower()}.")


def expire_overdue_actions() -> int:
    """Actions nobody picked up before their expiry become expired (and their chains are cancelled)."""
    expired = 0
    overdue = Action.objects.filter(status__in=(ActionStatus.WAITING, *DELIVERABLE), expires_at__lte=timezone.now())
    for action_id in overdue.values_list("pk", flat=True)[:5000]:
        with transaction.atomic():
            action = Action.objects.select_for_update().get(pk=action_id)
            if action.status in FINISHED:
                continue
            finish_action(action=action, status=ActionStatus.EXPIRED,
                          error="The agent did not pick this up before it expired.")
            expired += 1
    return expired


def cancel_unfinished_for_deleted_device(*, device_id: int) -> int:
    """The device is being deleted: what it had not finished is cancelled (call inside its transaction)."""
    cancelled = 0
    for action in Action.objects.select_for_update().filter(device_id=device_id, status__in=UNFINISHED).order_by("pk"):
        if not action.is_finished:
            action.status, action.error = ActionStatus.CANCELLED, "The device was deleted before this ran."
            action.finished_at = timezone.now()
            action.save(update_fields=["status", "error", "finished_at"])
            _announce(action)
            cancelled += 1
    return cancelled


def cancel_actions_of_deleted_device(sender: type, instance: Any, **kwargs: object) -> None:
    """``pre_delete`` of a device (connected in ActionsConfig.ready): its actions stay in the history, and what
    it had not finished will never run."""
    cancel_unfinished_for_deleted_device(device_id=instance.pk)
