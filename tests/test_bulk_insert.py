"""The roll-outs' fast insert stores exactly what ``bulk_create`` stores, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from monitoring.models import NetworkDevice
from portal.access import system_actor
from portal.actions.models import Action, ActionStatus
from portal.audit.models import AuditEvent
from portal.audit.services import audit_event
from portal.bulk_insert import insert_new
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db

STORED_BY_THE_DATABASE = {"id", "queued_at", "created_at"}


def _actions(devices, expires_at, payload):
    return [Action(company_id=device.company_id, device=device, device_label=device.hostname, action_type="run_script",
                   title=f"step on {device.hostname}", payload=payload, status=ActionStatus.QUEUED,
                   requested_by_label="tech ✓ 'quoted' \"too\"", timeout_seconds=300 + n, expires_at=expires_at,
                   exit_code=None if n % 2 else -1, stdout_truncated=bool(n % 2), result={"n": n, "list": [n, None]})
            for n, device in enumerate(devices)]


def _stored(model, ids):
    return [{name: value for name, value in row.items() if name not in STORED_BY_THE_DATABASE}
            for row in model.objects.filter(pk__in=ids).order_by("pk").values()]


def test_rows_read_back_the_same_as_bulk_creates():
    devices = DeviceFactory.create_batch(6)
    expires_at = timezone.now() + timedelta(hours=72)
    payload = {"content": "echo 'hi'\n", "arguments": ["a b", "ü"], "env": {}}
    fast = insert_new(_actions(devices, expires_at, payload))
    slow = Action.objects.bulk_create(_actions(devices, expires_at, payload))
    assert [action.pk for action in fast] == sorted(action.pk for action in fast)  # ids given back in order
    assert all(not action._state.adding for action in fast)
    assert _stored(Action, [a.pk for a in fast]) == _stored(Action, [a.pk for a in slow])
    reread = Action.objects.get(pk=fast[3].pk)
    assert reread.expires_at == expires_at and reread.payload == payload and reread.queued_at is not None
    assert reread.title == f"step on {devices[3].hostname}"


def test_audit_events_with_null_json_and_addresses():
    devices = DeviceFactory.create_batch(3)
    actor = system_actor("bulk test")

    def events():
        return [audit_event(actor=actor, action="device.touched", target=device, company_id=device.company_id,
                            before=None, after={"hostname": device.hostname}) for device in devices]
    fast, slow = insert_new(events()), AuditEvent.objects.bulk_create(events())
    assert _stored(AuditEvent, [e.pk for e in fast]) == _stored(AuditEvent, [e.pk for e in slow])
    assert AuditEvent.objects.get(pk=fast[0].pk).before is None


def test_encrypted_fields_are_encrypted_as_on_save():
    device = DeviceFactory()
    switch = insert_new([NetworkDevice(company_id=device.company_id, site_id=device.site_id, name="core",
                                       host="10.0.0.1", community="s3cret-community")])[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT community FROM monitoring_networkdevice WHERE id = %s", [switch.pk])
        (stored,) = cursor.fetchone()
    assert "s3cret-community" not in stored
    assert NetworkDevice.objects.get(pk=switch.pk).community == "s3cret-community"


def test_more_rows_than_one_statement_takes(monkeypatch):
    from portal import bulk_insert

    monkeypatch.setattr(bulk_insert, "_rows_per_statement", lambda connection, column_count: 4)
    devices = DeviceFactory.create_batch(10)
    inserted = insert_new(_actions(devices, timezone.now() + timedelta(hours=1), {}))
    assert len({action.pk for action in inserted}) == 10
    assert list(Action.objects.filter(pk__in=[a.pk for a in inserted]).order_by("pk")
                .values_list("device_id", flat=True)) == [device.pk for device in devices]


def test_nothing_to_insert():
    assert insert_new([]) == []
