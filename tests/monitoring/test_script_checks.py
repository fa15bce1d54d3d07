"""Checks that run on the device: a library script judged by its exit code, a Windows event-log query, and the
service checks' self-healing restart, each queued as a signed action and recorded on the alert's timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from monitoring import evaluation
from monitoring.models import Alert, AlertNotification, Check, CheckKind, CheckRun
from monitoring.services import create_check
from portal.access import system_actor
from portal.actions import delivery, library
from portal.actions.models import Action, ActionStatus
from portal.inventory.models import Device, DeviceService
from portal.policies.models import Level
from portal.policies.services import assign_policy, create_policy
from tests import factories

pytestmark = pytest.mark.django_db
ADMIN = system_actor("admin")


@pytest.fixture
def policy(tenant_a, tenant_b):
    Check.objects.all().delete()
    made = create_policy(actor=ADMIN, name="Endpoints", company=tenant_a.company)
    assign_policy(actor=ADMIN, policy=made, level=Level.COMPANY, target=tenant_a.company)
    return made


def _finish(action, *, exit_code, stdout="", status=None):
    delivery.store_result(device_id=action.device_id, action_id=action.pk,
                          status=status or ("succeeded" if exit_code == 0 else "failed"), exit_code=exit_code,
                          stdout=stdout, stderr="", stdout_truncated=False, stderr_truncated=False, started_at=None,
                          finished_at=None, result={})


def test_a_script_check_runs_on_its_interval_and_its_exit_code_decides(tenant_a, policy):
    script = library.create_script(actor=ADMIN, name="Backup age", language="bash", content="exit 0")
    check = create_check(actor=ADMIN, policy=policy, name="Backup fresh", kind=CheckKind.SCRIPT, script=script,
                         interval_minutes=30, warning_exit_codes="1", failures_before_alert=1)
    Device.objects.filter(pk=tenant_a.device.pk).update(status="online", os_type="linux")
    evaluation.evaluate_all_checks()
    run = CheckRun.objects.get()
    assert (run.device_id, run.action.title) == (tenant_a.device.pk, "Run Backup age")
    evaluation.evaluate_all_checks()
    assert CheckRun.objects.count() == 1  # the last run is unfinished: no pile-up

    _finish(run.action, exit_code=1, stdout="backup is 3 days old")
    evaluation.evaluate_all_checks()
    alert = Alert.objects.get(check_rule=check)
    assert (alert.severity, alert.message) == (check.warning_severity,
                                               f"Backup fresh on {tenant_a.device}: exit 1: backup is 3 days old")
    assert CheckRun.objects.count() == 1  # finished, but its 30 minutes have not passed

    CheckRun.objects.update(queued_at=timezone.now() - timedelta(minutes=31))
    evaluation.evaluate_all_checks()
    second = CheckRun.objects.latest("queued_at")
    _finish(second.action, exit_code=7, stdout="no backup at all")
    evaluation.evaluate_all_checks()
    alert.refresh_from_db()
    assert alert.severity == check.critical_severity and "exit 7" in alert.message

    CheckRun.objects.update(queued_at=timezone.now() - timedelta(minutes=31))
    evaluation.evaluate_all_checks()
    _finish(CheckRun.objects.latest("queued_at").action, exit_code=0)
    evaluation.evaluate_all_checks()
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_an_event_log_check_queries_windows_devices_only(tenant_a, policy):
    check = create_check(actor=ADMIN, policy=policy, name="Service crashes", kind=CheckKind.EVENT_LOG,
                         parameter="System", event_source="Service Control Manager", event_id=7031, event_level=2,
                         interval_minutes=10, failures_before_alert=1)
    windows = factories.DeviceFactory(site=tenant_a.site, hostname="win-01", os_type="windows", status="online")
    Device.objects.filter(pk=tenant_a.device.pk).update(status="online", os_type="linux")
    evaluation.evaluate_all_checks()
    run = CheckRun.objects.get()
    assert run.device == windows
    payload = run.action.payload
    assert payload["language"] == "powershell"
    assert ("LogName='System'; StartTime=(Get-Date).AddMinutes(-10); ProviderName='Service Control Manager'; "
            "Id=7031; Level=2") in payload["content"]
    _finish(run.action, exit_code=2, stdout="The Print Spooler service terminated unexpectedly.")
    evaluation.evaluate_all_checks()
    alert = Alert.objects.get(check_rule=check)
    assert alert.message.endswith("found in the System log: The Print Spooler service terminated unexpectedly.")
    assert alert.severity == check.critical_severity

    for bad in ({"parameter": "System'; Remove-Item C:\\ -Recurse; '"}, {"event_source": "x'y"}):
        with pytest.raises(ValidationError):
            create_check(actor=ADMIN, policy=policy, name="bad", kind=CheckKind.EVENT_LOG,
                         **{"parameter": "System", **bad})


def test_a_stopped_service_is_restarted_and_the_restart_is_on_the_timeline(tenant_a, policy):
    create_check(actor=ADMIN, policy=policy, name="nginx", kind=CheckKind.SERVICE_NOT_RUNNING, parameter="nginx",
                 failures_before_alert=1)
    quiet = create_check(actor=ADMIN, policy=policy, name="cron", kind=CheckKind.SERVICE_NOT_RUNNING,
                         parameter="cron", failures_before_alert=1, restart_service=False)
    Device.objects.filter(pk=tenant_a.device.pk).update(os_type="linux")
    DeviceService.objects.create(device=tenant_a.device, name="nginx", status="failed")
    DeviceService.objects.create(device=tenant_a.device, name="cron", status="stopped")
    evaluation.evaluate_all_checks()
    healing = AlertNotification.objects.get(route_label="Self-healing: restart nginx")
    assert healing.action.payload["content"] == "systemctl restart 'nginx'"
    assert healing.action.status == ActionStatus.QUEUED and healing.status == "sent"
    assert Alert.objects.filter(check_rule=quiet).exists()
    assert Action.objects.count() == 1  # cron's check does not restart
    with pytest.raises(ValidationError, match="service's name"):
        create_check(actor=ADMIN, policy=policy, name="evil", kind=CheckKind.SERVICE_NOT_RUNNING,
                     parameter="nginx; rm -rf /")


def test_check_runs_are_forgotten_after_two_days(tenant_a, policy):
    from monitoring.script_checks import prune_check_runs

    script = library.create_script(actor=ADMIN, name="Probe", language="bash", content="true")
    check = create_check(actor=ADMIN, policy=policy, name="Probe", kind=CheckKind.SCRIPT, script=script)
    old = CheckRun.objects.create(check_rule=check, device=tenant_a.device,
                                  queued_at=timezone.now() - timedelta(days=3))
    recent = CheckRun.objects.create(check_rule=check, device=tenant_a.device)
    assert prune_check_runs() == 1
    assert list(CheckRun.objects.values_list("pk", flat=True)) == [recent.pk] and old.pk != recent.pk


def test_a_name_saved_before_names_were_checked_never_reaches_a_command(tenant_a, policy):
    from monitoring.script_checks import event_log_query, restart_service

    Device.objects.filter(pk=tenant_a.device.pk).update(os_type="linux")
    tenant_a.device.refresh_from_db()
    assert restart_service(device=tenant_a.device, service="x'; reboot; '") is None
    legacy = Check(policy=policy, name="old", kind=CheckKind.EVENT_LOG, parameter="System'; del *")
    assert event_log_query(legacy) == ""
    assert not Action.objects.exists()
