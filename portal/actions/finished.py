"""What other parts of the product do when an action of a kind finishes (patching records each update's
outcome): registered from their ``AppConfig.ready``, run inside the transaction that finishes the action, so
the outcome and the action's status are stored together or not at all."""

from __future__ import annotations

from collections.abc import Callable

from portal.actions.models import Action

_HANDLERS: dict[str, list[Callable[[Action], None]]] = {}


def when_finished(action_type: str, handler: Callable[[Action], None]) -> None:
    """Call ``handler(action)`` whenever an action of ``action_type`` reaches a final status."""
    handlers = _HANDLERS.setdefault(action_type, [])
    if handler not in handlers:
        handlers.append(handler)


def run_finished_handlers(action: Action) -> None:
    for handler in _HANDLERS.get(action.action_type, ()):
        handler(action)
