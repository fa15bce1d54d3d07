"""Run what the pages and services queued for the task cluster, in this process, as a worker would."""

from __future__ import annotations

from django.utils.module_loading import import_string
from django_q.brokers import get_broker
from django_q.signing import SignedPackage


def run_queued_tasks(*, func: str | None = None) -> list[tuple[str, tuple]]:
    """Take every queued task (of ``func``, or all) off the broker and run it; returns what ran."""
    broker = get_broker()
    ran, keep = [], []
    while True:
        batch = broker.dequeue()
        if not batch:
            break
        for task_id, packed in batch:
            task = SignedPackage.loads(packed)
            broker.acknowledge(task_id)
            if func is not None and task["func"] != func:
                keep.append(packed)
                continue
            import_string(task["func"])(*task["args"], **task["kwargs"])
            ran.append((task["func"], tuple(task["args"])))
    for packed in keep:
        broker.enqueue(packed)
    return ran
