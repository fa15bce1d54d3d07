"""Requesting, delivering and finishing actions without a socket: checks, permissions, chains,
idempotent results, expiry, cancel, bulk and schedules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_q.models import Schedule

from portal.access import system_actor
from portal.actions import delivery, library, scheduling
from portal.actions.models import Action, ActionStatus, ActionType, ScheduleKind
from portal.actions.requests import apply_profile, cancel_action, queue_action, queue_bulk
from portal.actions.signing import canonical_json, payload_digest, public_key_text
from portal.actions.specs import patches_spec, reboot_spec, script_spec, software_spec
from portal.audit.models import AuditEvent
from portal.inventory.models import OsType
from tests import factories

pytestmark = pytest.mark.django_db
ADMIN = system_actor("admin")


@pytest.fixture
def bash_script():
    return library.create_script(actor=ADMIN, name="Disk report", language="bash", content="df -h")


def _result(action, status="succeeded", **extra):
    values = {"exit_code": 0, "stdout": "", "stderr": "", "stdout_truncated": False, "stderr_truncated": False,
              "started_at": None, "finished_at": None, "result": {}}
    return delivery.store_result(device_id=action.device_id, action_id=action.pk, status=status,
                                 **{**values, **extra})


def test_os_mismatch_is_refused_with_a_clear_error(tenant_a, bash_script, actor_of, operator_a):
    windows = factories.DeviceFactory(site=tenant_a.site, hostname="win-01", os_type=OsType.WINDOWS)
    spec = script_spec(actor=actor_of(operator_a), script=bash_script)
    with pytest.raises(ValidationError) as refused:
        queue_action(actor=actor_of(operator_a), device=windows, spec=spec)
    assert "Disk report" in str(refused.value) and "Windows" in str(refused.value)
    assert not Action.objects.exists()
    item = library.create_software_item(actor=ADMIN, name="Firefox", winget_id="Mozilla.Firefox")
    with pytest.raises(ValidationError):
        queue_action(actor=ADMIN, device=tenant_a.device, spec=software_spec(actor=ADMIN, software=item))


def test_inline_scripts_need_the_permission(tenant_a, actor_of, operator_a, viewer_a, bash_script):
    with pytest.raises(PermissionDenied):
        script_spec(actor=actor_of(operator_a), inline_content="id", inline_language="bash")
    operator_a.can_run_inline_scripts = True
    operator_a.save()
    granted = script_spec(actor=actor_of(operator_a), inline_content="id", inline_language="bash")
    assert granted.payload["content"] == "id"
    with pytest.raises(PermissionDenied):
        script_spec(actor=actor_of(viewer_a), script=bash_script)


def test_another_company_device_cannot_be_targeted(tenant_a, tenant_b, actor_of, operator_a):
    spec = reboot_spec(actor=actor_of(operator_a))
    with pytest.raises(Exception) as refused:
        queue_action(actor=actor_of(operator_a), device=tenant_b.device, spec=spec)
    assert type(refused.value).__name__ == "DoesNotExist" or "No such" in str(refused.value)
    result = queue_bulk(actor=actor_of(operator_a), devices=[tenant_a.device, tenant_b.device], spec=spec)
    assert result.queued == 1 and list(Action.objects.values_list("device_id", flat=True)) == [tenant_a.device.pk]


def test_bad_input_is_refused(tenant_a):
    for bad in ({"patch_ids": []}, {"patch_ids": ["--all"]}, {"patch_ids": ["x"] * 501}):
        with pytest.raises(ValidationError):
            patches_spec(actor=ADMIN, **bad)
    with pytest.raises(ValidationError):
        reboot_spec(actor=ADMIN, delay_seconds=-1)
    with pytest.raises(ValidationError):
        script_spec(actor=ADMIN, inline_content="x", inline_language="cobol")
    with pytest.raises(ValidationError):
        script_spec(actor=ADMIN, inline_content="x", inline_language="bash", timeout=0)
    with pytest.raises(ValidationError):
        script_spec(actor=ADMIN, inline_content="x", inline_language="bash", environment={"1BAD": "x"})
    with pytest.raises(ValidationError):
        script_spec(actor=ADMIN, inline_content="x", inline_language="bash", run_as="root; rm -rf /")


def test_every_request_is_audited_and_delivery_is_signed_in_order(tenant_a, bash_script, settings):
    first = queue_action(actor=ADMIN, device=tenant_a.device, spec=script_spec(actor=ADMIN, script=bash_script))
    second = queue_action(actor=ADMIN, device=tenant_a.device, spec=reboot_spec(actor=ADMIN, delay_seconds=60))
    assert AuditEvent.objects.filter(action="action.requested").count() == 2
    frames = delivery.deliver(device_id=tenant_a.device.pk, already_sent=set())
    assert [f["envelope"]["action_id"] for f in frames] == [first.pk, second.pk]
    envelope = frames[0]["envelope"]
    assert envelope["payload_digest"] == payload_digest(frames[0]["payload"])
    assert envelope["device_id"] == tenant_a.device.pk and envelope["expires"] > envelope["issued"]
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_text())).verify(
        base64.b64decode(frames[0]["signature"]), canonical_json(envelope))
    assert Action.objects.get(pk=first.pk).status == ActionStatus.SENT
    # A new connection gets both again (at-least-once); the same connection does not.
    assert delivery.deliver(device_id=tenant_a.device.pk, already_sent={first.pk, second.pk}) == []
    assert len(delivery.deliver(device_id=tenant_a.device.pk, already_sent=set())) == 2
    assert Action.objects.get(pk=first.pk).delivery_count == 2


def test_signing_key_file_is_private(settings):
    import stat
    from pathlib import Path

    public_key_text()
    assert stat.S_IMODE(Path(settings.FLEETWATCH_ACTION_SIGNING_KEY).stat().st_mode) == 0o600


def test_results_are_stored_once_and_unknown_ids_are_harmless(tenant_a, tenant_b, bash_script):
    action = queue_action(actor=ADMIN, device=tenant_a.device, spec=script_spec(actor=ADMIN, script=bash_script))
    assert _result(action, stdout="first") is True
    assert _result(action, status="failed", stdout="second") is True
    stored = Action.objects.get(pk=action.pk)
    assert (stored.status, stored.stdout) == ("succeeded", "first")
    assert delivery.store_result(device_id=tenant_b.device.pk, action_id=action.pk, status="failed", exit_code=1,
                                 stdout="", stderr="", stdout_truncated=False, stderr_truncated=False,
                                 started_at=None, finished_at=None, result={}) is False
    huge = queue_action(actor=ADMIN, device=tenant_a.device, spec=script_spec(actor=ADMIN, script=bash_script))
    _result(huge, stdout="x" * 100_000)
    assert Action.objects.get(pk=huge.pk).stdout_truncated


def test_a_batch_of_reports_and_deliveries_across_devices(tenant_a, tenant_b, bash_script):
    """What the sockets' action writer stores and delivers for many devices at once: each report once, a
    report for another device's action refused alone, released follow-ups delivered in one go, each device
    capped at MAX_ACTIONS_PER_DELIVERY."""
    profile = library.create_profile(actor=ADMIN, name="Two steps")
    for name in ("one", "two"):
        library.add_profile_task(actor=ADMIN, profile=profile, name=name, action_type=ActionType.RUN_SCRIPT,
                                 script=bash_script)
    devices = [tenant_a.device, tenant_b.device]
    batch = apply_profile(actor=ADMIN, profile=profile, devices=devices).batch
    firsts = {a.device_id: a for a in batch.actions.filter(after__isnull=True)}
    sent = delivery.deliver_many(requests={device.pk: set() for device in devices})
    assert {d: [f["envelope"]["action_id"] for f in frames] for d, frames in sent.items()} == \
        {d: [a.pk] for d, a in firsts.items()}
    a_first, b_first = firsts[tenant_a.device.pk], firsts[tenant_b.device.pk]
    reports = [delivery.AgentReport(device_id=a_first.device_id, action_id=a_first.pk, status="succeeded"),
               delivery.AgentReport(device_id=a_first.device_id, action_id=a_first.pk, status="failed"),
               delivery.AgentReport(device_id=a_first.device_id, action_id=b_first.pk, status="succeeded"),
               delivery.AgentReport(device_id=b_first.device_id, action_id=b_first.pk, refused=True,
                                    reason="bad_signature", message="no")]
    assert delivery.store_reports(reports=reports, notify_agent=False) == [True, True, False, True]
    assert Action.objects.get(pk=a_first.pk).status == "succeeded"  # the second report changed nothing
    b_stored = Action.objects.get(pk=b_first.pk)
    assert b_stored.status == "failed" and "bad_signature" in b_stored.error
    a_second, b_second = (batch.actions.get(after=a_first), batch.actions.get(after=b_first))
    assert (a_second.status, b_second.status) == ("queued", "cancelled")
    again = delivery.deliver_many(requests={device.pk: {a_first.pk, b_first.pk} for device in devices})
    assert {d: [f["envelope"]["action_id"] for f in frames] for d, frames in again.items()} == \
        {tenant_a.device.pk: [a_second.pk]}
    many = [queue_action(actor=ADMIN, device=tenant_b.device, spec=script_spec(actor=ADMIN, script=bash_script))
            for _ in range(delivery.MAX_ACTIONS_PER_DELIVERY + 2)]
    capped = delivery.deliver_many(requests={tenant_a.device.pk: set(), tenant_b.device.pk: set()})
    assert [f["envelope"]["action_id"] for f in capped[tenant_b.device.pk]] == \
        [a.pk for a in many[:delivery.MAX_ACTIONS_PER_DELIVERY]]
    assert [f["envelope"]["action_id"] for f in capped[tenant_a.device.pk]] == [a_second.pk]


def test_cancel_queued_and_running(tenant_a, bash_script, actor_of, operator_a, viewer_a):
    spec = script_spec(actor=ADMIN, script=bash_script)
    queued = queue_action(actor=ADMIN, device=tenant_a.device, spec=spec)
    with pytest.raises(PermissionDenied):
        cancel_action(actor=actor_of(viewer_a), action=queued)
    cancel_action(actor=actor_of(operator_a), action=queued)
    assert Action.objects.get(pk=queued.pk).status == ActionStatus.CANCELLED
    with pytest.raises(ValidationError):
        cancel_action(actor=actor_of(operator_a), action=Action.objects.get(pk=queued.pk))
    running = queue_action(actor=ADMIN, device=tenant_a.device, spec=spec)
    delivery.record_started(device_id=tenant_a.device.pk, action_id=running.pk, started_at=None)
    cancel_action(actor=actor_of(operator_a), action=running)
    assert Action.objects.get(pk=running.pk).cancel_requested_at is not None
    assert delivery.cancel_frames(device_id=tenant_a.device.pk) == [{"type": "action_cancel", "action_id": running.pk}]


def test_expiry_and_chains(tenant_a, bash_script):
    profile = library.create_profile(actor=ADMIN, name="Setup")
    for name in ("one", "two"):
        library.add_profile_task(actor=ADMIN, profile=profile, name=name, action_type=ActionType.RUN_SCRIPT,
                                 script=bash_script)
    result = apply_profile(actor=ADMIN, profile=profile, devices=[tenant_a.device])
    first, second = result.batch.actions.order_by("id")
    assert (first.status, second.status, second.after_id) == ("queued", "waiting", first.pk)
    assert [f["envelope"]["action_id"] for f in delivery.deliver(device_id=tenant_a.device.pk, already_sent=set())] \
        == [first.pk]  # the second waits for the first
    Action.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert delivery.expire_overdue_actions() == 1
    assert Action.objects.get(pk=first.pk).status == ActionStatus.EXPIRED
    assert Action.objects.get(pk=second.pk).status == ActionStatus.CANCELLED


def test_templates_are_copied_not_applied(tenant_a, bash_script):
    template = library.create_profile(actor=ADMIN, name="New laptop", description="Standard", is_template=True)
    library.add_profile_task(actor=ADMIN, profile=template, name="report", action_type=ActionType.RUN_SCRIPT,
                             script=bash_script, continue_on_error=True)
    with pytest.raises(ValidationError):
        apply_profile(actor=ADMIN, profile=template, devices=[tenant_a.device])
    copy = library.instantiate_template(actor=ADMIN, template=template, name="Acme laptop")
    assert not copy.is_template and copy.description == "Standard"
    assert list(copy.tasks.values_list("name", "continue_on_error")) == [("report", True)]
    with pytest.raises(ValidationError):
        library.instantiate_template(actor=ADMIN, template=copy, name="copy of a profile")


def test_script_versions_record_who_changed_what(bash_script, actor_of, admin_user, admin_a, operator_a):
    library.update_script(actor=actor_of(admin_user), script=bash_script, content="df -h /")
    library.update_script(actor=actor_of(admin_user), script=bash_script, content="df -h /")  # no change, no version
    versions = list(bash_script.versions.values_list("number", "changed_fields", "changed_by_label"))
    assert versions == [(2, ["content"], "root-admin"), (1, list(library.SCRIPT_FIELDS), "admin")]
    for refused in (operator_a, admin_a):
        with pytest.raises(PermissionDenied):
            library.update_script(actor=actor_of(refused), script=bash_script, content="rm -rf /")


def test_schedules_are_django_q_schedules(tenant_a, tenant_b, bash_script, actor_of, operator_a):
    schedule = scheduling.create_schedule(actor=actor_of(operator_a), company=tenant_a.company, name="Nightly",
                                          script=bash_script, kind=ScheduleKind.HOURS, every=2)
    q = Schedule.objects.get(pk=schedule.q_schedule_id)
    assert (q.func, q.schedule_type, q.minutes, q.args) == (scheduling.RUN_ACTION_SCHEDULE, Schedule.MINUTES, 120,
                                                            f"({schedule.pk},)")
    factories.DeviceFactory(site=tenant_b.site)  # another company's device is never targeted
    result = scheduling.run_schedule(schedule_id=schedule.pk)
    assert result.queued == 1 and Action.objects.get().schedule_id == schedule.pk
    scheduling.update_schedule(actor=actor_of(operator_a), actionschedule=schedule, enabled=False)
    assert not Schedule.objects.exists() and scheduling.run_schedule(schedule_id=schedule.pk) is None
    with pytest.raises(ValidationError):
        scheduling.create_schedule(actor=actor_of(operator_a), company=tenant_a.company, name="Bad",
                                   script=bash_script, kind=ScheduleKind.DAILY)  # no time given
    with pytest.raises(ValidationError):
        scheduling.create_schedule(actor=actor_of(operator_a), company=tenant_a.company, name="Foreign",
                                   script=bash_script, kind=ScheduleKind.MINUTES, every=5, site=tenant_b.site)
