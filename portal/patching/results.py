"""Each update's outcome from a finished install: the agent reports every update it tried (installed, found
installed already, failed, with its exit code and the end of its output); the outcome is stored per device and
update, for the catalogue's counts, the device page and compliance.

An agent's report names updates by the server's own catalogue id when the install came from a patch window, or
by the installer's id when a technician typed it; either way only updates the device itself reported count,
so a report cannot write outcomes for anything else.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from portal.actions.models import Action, ActionStatus
from portal.inventory.models import OutcomeState, PatchOutcome, PatchUpdate, PendingPatch

AGENT_STATES = {"installed": OutcomeState.INSTALLED, "already": OutcomeState.INSTALLED,
                "failed": OutcomeState.FAILED}
MAX_DETAIL = 2000


def _device_updates(device_id: int) -> tuple[set[int], dict[str, int]]:
    """The catalogue ids the device reported pending (or had an outcome for), and its pending ids by installer id."""
    pending = dict(PendingPatch.objects.filter(device_id=device_id).values_list("update_id", "update__identifier"))
    known = set(pending) | set(PatchOutcome.objects.filter(device_id=device_id).values_list("update_id", flat=True))
    return known, {identifier: update_id for update_id, identifier in pending.items()}


def _reported(action: Action) -> list[tuple[int, str, int | None, str]]:
    """(update id, state, exit code, output) of every update the agent reported on, mapped to the device's own."""
    items = action.result.get("patches") if isinstance(action.result, dict) else None
    if not isinstance(items, list):
        return []
    known, by_identifier = _device_updates(action.device_id)
    found = []
    for item in items[:1000]:
        if not isinstance(item, dict) or item.get("status") not in AGENT_STATES:
            continue
        update_id = item.get("update")
        if not (isinstance(update_id, int) and not isinstance(update_id, bool) and update_id in known):
            update_id = by_identifier.get(str(item.get("id", "")))
        if update_id is None:
            continue
        code = item.get("exit_code")
        output = item.get("output") if isinstance(item.get("output"), str) else ""
        found.append((update_id, AGENT_STATES[item["status"]],
                      code if isinstance(code, int) and not isinstance(code, bool) else None, output))
    return found


def _not_run(action: Action) -> list[tuple[int, str, int | None, str]]:
    """An install the agent refused, that timed out or failed before reporting any update: each update it named
    failed, with the action's reason."""
    listed = action.payload.get("updates") if isinstance(action.payload, dict) else None
    known, _ = _device_updates(action.device_id)
    ids = [item.get("update") for item in listed or [] if isinstance(item, dict)]
    return [(update_id, OutcomeState.FAILED, action.exit_code, action.error or action.get_status_display())
            for update_id in ids if isinstance(update_id, int) and update_id in known]


def record_install_outcomes(action: Action) -> None:
    """``when_finished`` handler of install actions: store one outcome per update (see the module)."""
    if action.device_id is None or action.status in (ActionStatus.CANCELLED, ActionStatus.EXPIRED):
        return
    outcomes = _reported(action)
    if not outcomes and action.status in (ActionStatus.FAILED, ActionStatus.TIMED_OUT):
        outcomes = _not_run(action)
    if not outcomes:
        return
    now = action.finished_at or timezone.now()
    existing = {row.update_id: row for row in
                PatchOutcome.objects.filter(device_id=action.device_id, update_id__in=[o[0] for o in outcomes])}
    created, changed = [], []
    for update_id, state, code, output in outcomes:
        row = existing.get(update_id) or PatchOutcome(device_id=action.device_id, update_id=update_id, attempts=0)
        row.state, row.at, row.result_code = state, now, code
        row.detail, row.action_number = output[-MAX_DETAIL:], action.pk
        row.attempts += 1
        (changed if row.pk else created).append(row)
    PatchOutcome.objects.bulk_create(created)
    PatchOutcome.objects.bulk_update(changed, ["state", "at", "result_code", "detail", "action_number", "attempts"])
    if any(state == OutcomeState.INSTALLED for _, state, _, _ in outcomes):
        # Shown at once; the agent's next inventory (sent right after the install) confirms it.
        installed = [update_id for update_id, state, _, _ in outcomes if state == OutcomeState.INSTALLED]
        PendingPatch.objects.filter(device_id=action.device_id, update_id__in=installed).delete()


def install_entries(updates: list[PatchUpdate]) -> list[dict[str, Any]]:
    """What an install action tells the agent about each update: installer id, source and catalogue id."""
    return [{"update": update.pk, "source": update.source, "id": update.identifier,
             "reboot": bool(update.reboot_required)} for update in updates]

