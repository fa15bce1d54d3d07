"""Script parameters that name custom fields (``{{device.custom.backup_path}}``, ``{{company.custom.…}}``):
accepted when queued, resolved for each device at its first delivery, signed as resolved, kept in the action's
history exactly as sent, and refused per device when a value does not fit the parameter."""

import pytest
from django.core.exceptions import ValidationError

from portal.access import system_actor
from portal.actions import delivery, library, scheduling
from portal.actions.models import Action, ActionStatus
from portal.actions.requests import Targets, run_on_targets
from portal.actions.signing import payload_digest
from portal.actions.specs import script_spec
from portal.custom_fields.services import create_custom_field, set_custom_values
from tests import factories

pytestmark = pytest.mark.django_db
ADMIN = system_actor("admin")
PARAMETERS = [
    {"name": "TARGET", "type": "text", "via": "env"},
    {"name": "keep_days", "type": "number", "via": "argument", "default": 7},
    {"name": "VERIFY", "type": "bool", "via": "env", "default": False},
]


@pytest.fixture
def backup_script(tenant_a):
    create_custom_field(actor=ADMIN, target="device", name="backup_path", label="Backup path")
    create_custom_field(actor=ADMIN, target="company", name="keep_days", label="Keep days", kind="text")
    create_custom_field(actor=ADMIN, target="site", name="verify", label="Verify", kind="boolean", default=True)
    return library.create_script(actor=ADMIN, name="Backup", language="bash", content='echo "$TARGET" "$1"',
                                 arguments=["--quiet"], parameters=PARAMETERS)


def _queue(site, script, **parameters):
    spec = script_spec(actor=ADMIN, script=script, parameters=parameters)
    return run_on_targets(actor=ADMIN, targets=Targets(site=site), spec=spec)


def test_each_device_gets_its_own_values_signed_and_recorded_as_sent(tenant_a, backup_script):
    other = factories.DeviceFactory(site=tenant_a.site, hostname="second")
    set_custom_values(actor=ADMIN, obj=tenant_a.device, values={"backup_path": "/srv/a"})
    set_custom_values(actor=ADMIN, obj=other, values={"backup_path": "D:\\Backups"})
    set_custom_values(actor=ADMIN, obj=tenant_a.company, values={"keep_days": "30"})
    _queue(tenant_a.site, backup_script, TARGET="to {{ device.custom.backup_path }}",
           keep_days="{{company.custom.keep_days}}", VERIFY="{{site.custom.verify}}")
    queued = Action.objects.get(device=tenant_a.device)
    assert queued.payload["parameters"]["TARGET"] == "to {{ device.custom.backup_path }}"  # not resolved yet

    frame = delivery.deliver(device_id=tenant_a.device.pk, already_sent=set())[0]
    payload = frame["payload"]
    assert payload["parameters"] == {"TARGET": "to /srv/a", "keep_days": 30, "VERIFY": True}
    assert payload["arguments"] == ["--quiet", "30"]
    assert payload["environment"] == {"TARGET": "to /srv/a", "VERIFY": "true"}
    assert frame["envelope"]["payload_digest"] == payload_digest(payload)
    assert Action.objects.get(pk=queued.pk).payload == payload  # the history shows what was sent
    again = delivery.deliver(device_id=tenant_a.device.pk, already_sent=set())[0]  # a redelivery: same payload
    assert again["payload"] == payload

    second = delivery.deliver(device_id=other.pk, already_sent=set())[0]["payload"]
    assert second["environment"]["TARGET"] == "to D:\\Backups"


def test_a_value_that_does_not_fit_fails_that_device_only(tenant_a, backup_script):
    other = factories.DeviceFactory(site=tenant_a.site, hostname="second")
    set_custom_values(actor=ADMIN, obj=tenant_a.company, values={"keep_days": "a month"})
    _queue(tenant_a.site, backup_script, TARGET="x", keep_days="{{company.custom.keep_days}}")
    assert delivery.deliver(device_id=tenant_a.device.pk, already_sent=set()) == []
    failed = Action.objects.get(device=tenant_a.device)
    assert failed.status == ActionStatus.FAILED
    assert "custom-field value does not fit" in failed.error and "'keep_days' must be a number" in failed.error
    set_custom_values(actor=ADMIN, obj=tenant_a.company, values={"keep_days": ""})  # empty: the default applies
    assert delivery.deliver(device_id=other.pk, already_sent=set())[0]["payload"]["parameters"]["keep_days"] == 7


def test_references_are_checked_when_queued(tenant_a, backup_script):
    for bad in ({"keep_days": "{{device.custom.x}} days"}, {"keep_days": "{{device.hostname}}"},
                {"VERIFY": "{{ device.custom.Bad-Name }}"}):
        with pytest.raises(ValidationError):
            script_spec(actor=ADMIN, script=backup_script, parameters={"TARGET": "x", **bad})


def test_schedules_take_references_typed_as_text(tenant_a, backup_script):
    set_custom_values(actor=ADMIN, obj=tenant_a.device, values={"backup_path": "/srv/nightly"})
    schedule = scheduling.create_schedule(actor=ADMIN, company=tenant_a.company, name="Nightly", kind="minutes",
                                          every=60, script=backup_script,
                                          parameters={"TARGET": "{{device.custom.backup_path}}",
                                                      "keep_days": "{{company.custom.keep_days}}"})
    scheduling.run_schedule(schedule_id=schedule.pk)
    payload = delivery.deliver(device_id=tenant_a.device.pk, already_sent=set())[0]["payload"]
    assert payload["parameters"] == {"TARGET": "/srv/nightly", "keep_days": 7, "VERIFY": False}


def test_a_custom_value_holding_a_reference_is_not_resolved_again(tenant_a, backup_script):
    set_custom_values(actor=ADMIN, obj=tenant_a.device, values={"backup_path": "{{company.custom.keep_days}}"})
    _queue(tenant_a.site, backup_script, TARGET="{{device.custom.backup_path}}")
    assert delivery.deliver(device_id=tenant_a.device.pk, already_sent=set()) == []
    assert "may not itself hold" in Action.objects.get(device=tenant_a.device).error
