"""Patch windows at work: the one-minute job queues each device's approved updates once per window occurrence,
expiring with the window (or at the next one, with catch-up); alerts stay quiet meanwhile; and each update's
outcome comes back from the agent's report, only for updates the device itself needs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from monitoring.evaluation import evaluate_check
from monitoring.models import Alert, CheckKind
from monitoring.services import create_check
from portal.access import actor_for_user
from portal.actions.delivery import store_refusal, store_result
from portal.actions.models import Action, ActionStatus
from portal.inventory.models import OutcomeState, PatchOutcome, PendingPatch
from portal.patching import services
from portal.patching.models import PatchRun
from portal.patching.rollout import devices_in_patch_window, open_patch_windows
from tests import factories
from tests.patching.helpers import SYSTEM, patch_policy, with_agent

pytestmark = pytest.mark.django_db


def _window_opened_minutes_ago(company, minutes: int = 10) -> dict:
    local = timezone.localtime(timezone.now() - timedelta(minutes=minutes), company.zone)
    return {"frequency": "daily", "starts_at": local.time().replace(second=0, microsecond=0),
            "duration_minutes": 60}


@pytest.fixture
def berlin(tenant_a):
    tenant_a.company.time_zone = "Europe/Berlin"
    tenant_a.company.save()
    with_agent(tenant_a.device)
    factories.pending_patch(tenant_a.device, "openssl", category="security", reboot_required=True)
    factories.pending_patch(tenant_a.device, "nvidia-driver", category="driver")
    return tenant_a


def test_an_open_window_queues_the_approved_updates_once(berlin, tenant_b):
    window = _window_opened_minutes_ago(berlin.company)
    patch_policy(name="Nightly", company=berlin.company, windows=[window], reboot_mode="always",
                 reboot_warning_minutes=5)
    with_agent(tenant_b.device)
    factories.pending_patch(tenant_b.device, "openssl", category="security")  # no policy: nothing queued there
    assert open_patch_windows() == 1
    action = Action.objects.get()
    assert action.device == berlin.device and action.requested_by_label == "patch window"
    openssl = factories.catalogue_update("openssl")
    assert action.payload == {"updates": [{"update": openssl.pk, "source": "apt", "id": "openssl", "reboot": True}],
                              "reboot": {"mode": "always", "warn_minutes": 5, "max_postpone_minutes": 240,
                                         "message": ""}}
    run = PatchRun.objects.get()
    assert action.expires_at == run.window_end and run.updates == 1 and run.action_number == action.pk
    assert run.window_end - run.window_start == timedelta(minutes=60)
    assert open_patch_windows() == 0  # the same occurrence never runs twice
    assert Action.objects.count() == 1


def test_catch_up_keeps_the_install_until_the_next_window(berlin):
    patch_policy(name="Catch up", company=berlin.company, windows=[_window_opened_minutes_ago(berlin.company)],
                 catch_up=True)
    open_patch_windows()
    action, run = Action.objects.get(), PatchRun.objects.get()
    assert action.expires_at == run.window_start + timedelta(days=1)  # tomorrow's occurrence of the daily window


def test_a_closed_window_or_a_device_without_our_agent_queues_nothing(tenant_a):
    factories.pending_patch(tenant_a.device, "openssl", category="security")
    patch_policy(name="Later", company=tenant_a.company,
                 windows=[_window_opened_minutes_ago(tenant_a.company, minutes=-120)])
    assert open_patch_windows() == 0
    patch_policy(name="Now", company=tenant_a.company, windows=[_window_opened_minutes_ago(tenant_a.company)])
    assert open_patch_windows() == 0  # no agent credential: the device is another system's
    assert not Action.objects.exists()


def test_a_window_with_nothing_approved_is_recorded_without_an_action(berlin):
    patch_policy(name="Manual only", company=berlin.company, rules=[{"category": "*", "action": "manual"}],
                 windows=[_window_opened_minutes_ago(berlin.company)])
    assert open_patch_windows() == 0
    assert PatchRun.objects.get().updates == 0


def test_alerts_stay_quiet_while_the_patch_window_is_open(berlin):
    patching = patch_policy(name="Quiet", company=berlin.company,
                            windows=[_window_opened_minutes_ago(berlin.company)])
    factories.pending_patch(berlin.device, "KB5034441", source="windows_update", severity="critical")
    open_patch_windows()
    assert devices_in_patch_window() == {berlin.device.pk}
    check = create_check(actor=SYSTEM, policy=patching.policy, name="Critical patches",
                         kind=CheckKind.CRITICAL_PATCHES, warning_threshold=1, failures_before_alert=1)
    evaluate_check(check=check)
    assert not Alert.objects.exists()
    PatchRun.objects.update(window_end=timezone.now())
    evaluate_check(check=check)
    assert Alert.objects.count() == 1


def _finish(action: Action, patches: list[dict], status: str = "succeeded") -> None:
    store_result(device_id=action.device_id, action_id=action.pk, status=status, exit_code=0, stdout="", stderr="",
                 stdout_truncated=False, stderr_truncated=False, started_at=None, finished_at=None,
                 result={"patches": patches})


def test_each_updates_outcome_is_stored_and_only_for_the_devices_own_updates(berlin, tenant_b):
    patch_policy(name="Nightly", company=berlin.company, windows=[_window_opened_minutes_ago(berlin.company)])
    open_patch_windows()
    action = Action.objects.get()
    openssl = factories.catalogue_update("openssl")
    foreign = factories.pending_patch(tenant_b.device, "bravo-only").update
    _finish(action, [{"update": openssl.pk, "id": "openssl", "source": "apt", "status": "failed", "exit_code": 100,
                      "output": "E: Could not get lock /var/lib/dpkg/lock-frontend"},
                     {"update": foreign.pk, "id": "bravo-only", "source": "apt", "status": "installed"},
                     {"id": "nvidia-driver", "source": "apt", "status": "installed", "exit_code": 0}],
            status="failed")
    outcomes = {row.update.identifier: row for row in PatchOutcome.objects.select_related("update")}
    assert set(outcomes) == {"openssl", "nvidia-driver"}  # another device's update is never written
    assert outcomes["openssl"].state == OutcomeState.FAILED and outcomes["openssl"].result_code == 100
    assert "lock-frontend" in outcomes["openssl"].detail and outcomes["openssl"].action_number == action.pk
    assert outcomes["nvidia-driver"].state == OutcomeState.INSTALLED
    assert not PendingPatch.objects.filter(device=berlin.device, update__identifier="nvidia-driver").exists()
    assert PendingPatch.objects.filter(device=tenant_b.device).exists()


def test_an_install_the_agent_refused_fails_each_update_it_named(berlin):
    patch_policy(name="Nightly", company=berlin.company, windows=[_window_opened_minutes_ago(berlin.company)])
    open_patch_windows()
    action = Action.objects.get()
    store_refusal(device_id=action.device_id, action_id=action.pk, reason="bad_signature", message="tampered")
    outcome = PatchOutcome.objects.get()
    assert outcome.state == OutcomeState.FAILED and "bad_signature" in outcome.detail
    assert Action.objects.get().status == ActionStatus.FAILED


def test_install_approved_now_outside_the_window(berlin, operator_a):
    with pytest.raises(ValidationError, match="No patch policy"):
        services.install_approved_now(actor=actor_for_user(operator_a), device=berlin.device)
    patch_policy(name="Any time", company=berlin.company, reboot_mode="never")
    action = services.install_approved_now(actor=actor_for_user(operator_a), device=berlin.device)
    assert [item["id"] for item in action.payload["updates"]] == ["openssl"]
    assert action.payload["reboot"]["mode"] == "never" and action.requested_by_label == operator_a.username
