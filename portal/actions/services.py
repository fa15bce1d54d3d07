"""The writes people make on actions, in one public module: the library (scripts with their versions,
software, deployment profiles), scheduled runs, and running and cancelling actions.

Doors (pages, GraphQL) import writes from here only. Each is defined beside the rules of its part:
``library`` (MSP-wide, all-company admins), ``scheduling`` (scheduled runs and their django-q2
schedules), ``requests`` (targets, eligibility, signing and the audit of what runs). The agent channel's
own writes (results, output, refusals) are in ``delivery``."""

from __future__ import annotations

from portal.actions.library import (
    MAX_PROFILE_TASKS,
    SCRIPT_FIELDS,
    add_profile_task,
    create_profile,
    create_script,
    create_software_item,
    delete_profile,
    delete_profile_task,
    delete_script,
    delete_software_item,
    instantiate_template,
    update_profile,
    update_script,
    update_software_item,
)
from portal.actions.requests import (
    BulkResult,
    Targets,
    apply_profile,
    cancel_action,
    queue_action,
    queue_bulk,
    run_on_targets,
)
from portal.actions.scheduling import create_schedule, delete_schedule, update_schedule

__all__ = [
    "MAX_PROFILE_TASKS",
    "SCRIPT_FIELDS",
    "BulkResult",
    "Targets",
    "add_profile_task",
    "apply_profile",
    "cancel_action",
    "create_profile",
    "create_schedule",
    "create_script",
    "create_software_item",
    "delete_profile",
    "delete_profile_task",
    "delete_schedule",
    "delete_script",
    "delete_software_item",
    "instantiate_template",
    "queue_action",
    "queue_bulk",
    "run_on_targets",
    "update_profile",
    "update_schedule",
    "update_script",
    "update_software_item",
]
