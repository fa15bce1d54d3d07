"""What the cross-tenant isolation tests sweep. Every capability registers its own here.

``TENANT_ROW_MAKERS`` maps each tenant-owned model to a function that creates one row of it inside a
given company. The sweep fails when a tenant-owned model has no maker, so a new model cannot skip
the isolation tests.
"""

from collections.abc import Callable
from itertools import count

from django.db.models import Model
from django.utils import timezone

from monitoring.models import (
    Alert,
    AlertNotification,
    AlertRoute,
    Camera,
    Check,
    CheckRun,
    CheckState,
    MaintenanceWindow,
    NetworkDevice,
    NetworkInterface,
    NetworkPollSample,
)
from portal.actions.models import Action, ActionBatch, ActionSchedule, ScheduleKind, Script
from portal.audit.models import AuditEvent
from portal.dynamic_groups.models import DynamicGroup
from portal.inventory import models as inventory
from portal.inventory.models import Device
from portal.patching import models as patching
from portal.policies.models import Level, Policy, PolicyAssignment
from portal.remote import models as remote
from portal.tenancy.models import Company, Contact, Group, Site
from tests import factories


def _audit_event_in(company: Company) -> AuditEvent:
    return AuditEvent.objects.create(actor_label="test", action="company.updated", object_type="tenancy.company",
                                     object_id=str(company.pk), object_repr=company.name, company=company)


def _remote_session_in(company: Company, kind: str = "shell") -> remote.RemoteSession:
    return remote.RemoteSession.objects.create(company=company, device=_device_in(company), kind=kind,
                                               user_label="tech")


def _device_in(company: Company) -> Device:
    return factories.DeviceFactory(site=factories.SiteFactory(company=company))


def _enrollment_token_in(company: Company) -> inventory.EnrollmentToken:
    site = factories.SiteFactory(company=company)
    return inventory.EnrollmentToken.objects.create(company=company, site=site, name="rollout",
                                                    key_id=f"{site.pk:012x}", secret_digest="0" * 64)


def _action_in(company: Company) -> Action:
    device = _device_in(company)
    batch = ActionBatch.objects.create(title=f"{company.name} batch", requested_by_label="test")
    return Action.objects.create(company=company, device=device, action_type="reboot", title=f"{company.name} reboot",
                                 requested_by_label="test", batch=batch,
                                 expires_at=timezone.now() + timezone.timedelta(hours=1))


def _schedule_in(company: Company) -> ActionSchedule:
    script, _ = Script.objects.get_or_create(name="isolation script", defaults={"content": "true"})
    return ActionSchedule.objects.create(company=company, name=f"{company.name} nightly", script=script,
                                         kind=ScheduleKind.MINUTES, every=60)


def _network_device_in(company: Company) -> NetworkDevice:
    return NetworkDevice.objects.create(company=company, site=factories.SiteFactory(company=company),
                                        name=f"{company.name} core switch", host="192.0.2.1", community="public")


_POLICY_NUMBERS = count(1)


def _policy_in(company: Company) -> Policy:
    return Policy.objects.create(company=company, name=f"{company.name} policy {next(_POLICY_NUMBERS)}")


def _check_in(company: Company) -> Check:
    return Check.objects.create(policy=_policy_in(company), company=company, name=f"{company.name} CPU",
                                kind="agent_cpu", warning_threshold=90)


def _alert_in(company: Company) -> Alert:
    return Alert.objects.create(company=company, check_rule=_check_in(company), object_key="device:1",
                                object_label=f"{company.name} host", kind="agent_cpu", severity="high",
                                message=f"{company.name} CPU high")


TENANT_ROW_MAKERS: dict[type[Model], Callable[[Company], Model]] = {
    Company: lambda company: company,
    Site: lambda company: factories.SiteFactory(company=company),
    Group: lambda company: factories.GroupFactory(site=factories.SiteFactory(company=company)),
    Contact: lambda company: factories.ContactFactory(company=company),
    Device: _device_in,
    AuditEvent: _audit_event_in,
    inventory.DeviceInventory: lambda company: inventory.DeviceInventory.objects.create(
        device=_device_in(company), content_hash="0" * 64, collected_at=timezone.now(), kernel="6.1"),
    inventory.InstalledSoftware: lambda company: inventory.InstalledSoftware.objects.create(
        device=_device_in(company), name=f"{company.name} app", version="1.0", source="dpkg"),
    inventory.DeviceService: lambda company: inventory.DeviceService.objects.create(
        device=_device_in(company), name=f"{company.name}.service", status="running"),
    inventory.PendingPatch: lambda company: factories.pending_patch(_device_in(company), f"{company.name}-patch"),
    inventory.PatchOutcome: lambda company: inventory.PatchOutcome.objects.create(
        device=_device_in(company), update=factories.catalogue_update(f"{company.name}-done"), state="installed"),
    inventory.InventoryChange: lambda company: inventory.InventoryChange.objects.create(
        device=_device_in(company), kind="software", change="installed", name=f"{company.name} tool"),
    inventory.MetricSample: lambda company: inventory.MetricSample.objects.create(
        device=_device_in(company), at=timezone.now(), cpu_percent=5.0, memory_percent=40.0),
    inventory.EnrollmentToken: _enrollment_token_in,
    inventory.AgentCredential: lambda company: inventory.AgentCredential.objects.create(
        device=_device_in(company), key_id=f"{company.pk:012x}", secret_digest="0" * 64),
    Action: _action_in,
    ActionSchedule: _schedule_in,
    NetworkDevice: _network_device_in,
    NetworkInterface: lambda company: NetworkInterface.objects.create(device=_network_device_in(company), if_index=1,
                                                                      name=f"{company.name} uplink"),
    NetworkPollSample: lambda company: NetworkPollSample.objects.create(device=_network_device_in(company),
                                                                        at=timezone.now(), status="up"),
    Camera: lambda company: Camera.objects.create(company=company, site=factories.SiteFactory(company=company),
                                                  name=f"{company.name} lobby cam", host="192.0.2.20",
                                                  rtsp_url="rtsp://192.0.2.20/stream1"),
    Check: _check_in,
    CheckRun: lambda company: CheckRun.objects.create(check_rule=_check_in(company), device=_device_in(company)),
    CheckState: lambda company: CheckState.objects.create(check_rule=_check_in(company), object_key="device:1"),
    Alert: _alert_in,
    AlertRoute: lambda company: AlertRoute.objects.create(policy=_policy_in(company), name=f"{company.name} mail",
                                                          kind="email", emails=["noc@example.com"]),
    AlertNotification: lambda company: AlertNotification.objects.create(alert=_alert_in(company),
                                                                        route_label=f"{company.name} mail",
                                                                        event="opened"),
    DynamicGroup: lambda company: DynamicGroup.objects.create(company=company, name=f"{company.name} servers",
                                                              rules=[{"field": "os", "op": "eq", "value": "linux"}]),
    Policy: _policy_in,
    PolicyAssignment: lambda company: PolicyAssignment.objects.create(policy=_policy_in(company), level=Level.COMPANY,
                                                                      company=company),
    MaintenanceWindow: lambda company: MaintenanceWindow.objects.create(
        company=company, starts_at=timezone.now(), ends_at=timezone.now() + timezone.timedelta(hours=1)),
    patching.PatchPolicy: lambda company: patching.PatchPolicy.objects.create(policy=_policy_in(company)),
    patching.PatchWindow: lambda company: patching.PatchWindow.objects.create(
        policy=_policy_in(company), frequency="daily", starts_at="02:00"),
    patching.PatchApproval: lambda company: patching.PatchApproval.objects.create(
        company=company, update=factories.catalogue_update(f"{company.name}-kb"), decision="approved",
        decided_by_label="test"),
    patching.PatchRun: lambda company: patching.PatchRun.objects.create(
        device=_device_in(company), window_start=timezone.now(), window_end=timezone.now()),
    patching.DevicePatchStatus: lambda company: patching.DevicePatchStatus.objects.create(device=_device_in(company)),
    patching.PatchQueueEntry: lambda company: patching.PatchQueueEntry.objects.create(
        company=company, update=factories.catalogue_update(f"{company.name}-queued")),
    patching.ComplianceSnapshot: lambda company: patching.ComplianceSnapshot.objects.create(
        company=company, day=timezone.localdate()),
    patching.ComplianceReportSchedule: lambda company: patching.ComplianceReportSchedule.objects.create(
        company=company, recipients=["client@example.com"]),
    remote.RemoteSession: lambda company: _remote_session_in(company),
    remote.TranscriptChunk: lambda company: remote.TranscriptChunk.objects.create(
        session=_remote_session_in(company), seq=1, data=b"x", raw_bytes=1),
    remote.FileTransfer: lambda company: remote.FileTransfer.objects.create(
        session=_remote_session_in(company, kind="files"), operation="download", path="/etc/hosts"),
}

# Rows not owned by a company whose visibility follows tenant-owned rows (a batch is visible through its
# actions): each maker returns a row that only the given company's users may reach.
DERIVED_ROW_MAKERS: dict[type[Model], Callable[[Company], Model]] = {
    ActionBatch: lambda company: _action_in(company).batch,
    # The patch catalogue: an update is seen through the devices that need it or had it.
    inventory.PatchUpdate: lambda company: factories.pending_patch(_device_in(company),
                                                                   f"{company.name}-update").update,
}


# Dashboard URLs that take an object's pk besides the generic resource pages: url name → (model, method).
# The sweep fails when a page with a pk is missing here.
OBJECT_PAGES: dict[str, tuple[type[Model], str]] = {
    "device-tab": (Device, "GET"),
    "device-revoke-agent": (Device, "POST"),
    "enrollment-token-revoke": (inventory.EnrollmentToken, "POST"),
    "action-cancel": (Action, "POST"),
    "batch-detail": (ActionBatch, "GET"),
    "network-poll": (NetworkDevice, "POST"),
    "camera-check": (Camera, "POST"),
    "alert-acknowledge": (Alert, "POST"),
    "pulseway-script-run": (Device, "POST"),
    "policy-assign": (Policy, "POST"),
    "policy-assignment-delete": (PolicyAssignment, "POST"),
    "patch-update": (inventory.PatchUpdate, "GET"),
    "patch-update-decide": (inventory.PatchUpdate, "POST"),
    "patch-decision-clear": (patching.PatchApproval, "POST"),
    "patch-compliance-company": (Company, "GET"),
    "patch-compliance-csv": (Company, "GET"),
    "patch-compliance-pdf": (Company, "GET"),
    "patch-compliance-schedule": (Company, "POST"),
    "device-patches": (Device, "GET"),
    "device-patch-action": (Device, "POST"),
    "policy-patching": (Policy, "POST"),
    "policy-patch-window": (Policy, "POST"),
    "patch-window-delete": (patching.PatchWindow, "POST"),
    "remote-open": (Device, "POST"),
    "remote-transcript": (remote.RemoteSession, "GET"),
}
# Pages of the shared library (scripts, software, profiles): the same for every signed-in user; and
# connector and scheduler pages, for administrators who see every company (tests/connectors and
# tests/test_scheduler check that everyone else gets 404).
SHARED_LIBRARY_PAGES = {"profile-task-new", "profile-task-delete", "profile-instantiate", "connector-sync",
                        "connector-record-map", "connector-conflict-resolve", "scheduler-job", "scheduler-enable",
                        "scheduler-interval", "scheduler-run-now"}
# Pages over rows that belong to a user, not a company (covered by their own tests).
USER_OWNED_PAGES = {"api-token-revoke", "user-detail", "user-action"}
