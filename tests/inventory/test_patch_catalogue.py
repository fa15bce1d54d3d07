"""The patch catalogue from inventories: one row per update across devices, normalised from what each agent
says (Windows classifications, security archives, applications), with what became of updates a device no longer
needs (installed, or superseded by a newer version), and the scan reports that say when a device last looked."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.inventory.models import OutcomeState, PatchOutcome, PatchUpdate, PendingPatch
from portal.inventory.telemetry import HeartbeatBuffer, UpdateScan, apply_inventory
from portal.inventory.updates import reported_update
from tests import factories

pytestmark = pytest.mark.django_db


def _inventory(*updates: dict) -> dict:
    return {"system": {"hostname": "host"}, "software": [], "services": [], "pending_updates": list(updates)}


def _apt(name: str, version: str, **fields) -> dict:
    return {"id": name, "title": f"{name} {version}", "source": "apt", "version": version, "from_version": "1",
            **fields}


def test_devices_reporting_the_same_update_share_one_catalogue_row(tenant_a, tenant_b):
    for number, device in enumerate((tenant_a.device, tenant_b.device)):
        apply_inventory(device_id=device.pk, content_hash=f"{number}" * 64,
                        data=_inventory(_apt("openssl", "3.0.15", security=True, classification="security", size=900)))
    update = PatchUpdate.objects.get()
    assert (update.category, update.size_bytes, update.version) == ("security", 900, "3.0.15")
    assert PendingPatch.objects.filter(update=update).count() == 2
    assert PendingPatch.objects.get(device=tenant_a.device).from_version == "1"


def test_cleared_updates_are_installed_unless_a_newer_version_replaced_them(tenant_a):
    device = tenant_a.device
    apply_inventory(device_id=device.pk, content_hash="a" * 64,
                    data=_inventory(_apt("openssl", "3.0.15"), _apt("curl", "7.88.2")))
    apply_inventory(device_id=device.pk, content_hash="b" * 64, data=_inventory(_apt("openssl", "3.0.16")))
    outcomes = {(row.update.identifier, row.update.version): row.state
                for row in PatchOutcome.objects.select_related("update")}
    assert outcomes == {("openssl", "3.0.15"): OutcomeState.SUPERSEDED, ("curl", "7.88.2"): OutcomeState.INSTALLED}
    assert list(PendingPatch.objects.values_list("update__version", flat=True)) == ["3.0.16"]


def test_an_install_that_said_installed_is_kept_when_the_scan_clears_it(tenant_a):
    pending = factories.pending_patch(tenant_a.device, "curl", version="7.88.2")
    PatchOutcome.objects.create(device=tenant_a.device, update=pending.update, state=OutcomeState.INSTALLED,
                                detail="Setting up curl (7.88.2)", action_number=42)
    apply_inventory(device_id=tenant_a.device.pk, content_hash="c" * 64, data=_inventory())
    outcome = PatchOutcome.objects.get()
    assert (outcome.state, outcome.detail, outcome.action_number) == ("installed", "Setting up curl (7.88.2)", 42)


def test_what_agents_say_is_normalised_and_nothing_more_is_trusted():
    windows = reported_update({"id": "KB5034441", "source": "windows_update", "classification": "Security Updates",
                               "severity": "Important", "reboot": True, "released": 1704758400, "size": 10})
    assert (windows.category, windows.severity, windows.reboot_required) == ("security", "important", True)
    assert windows.released_at.year == 2024
    driver = reported_update({"id": "Intel display", "source": "windows_update", "classification": "Drivers"})
    assert driver.category == "driver"
    winget = reported_update({"id": "Mozilla.Firefox", "source": "winget", "classification": "security"})
    assert winget.category == "application"
    odd = reported_update({"id": "x" * 400, "source": "apt", "severity": "apocalyptic", "size": "huge",
                           "released": True, "reboot": "yes", "title": 5})
    assert (len(odd.identifier), odd.severity, odd.size_bytes, odd.released_at, odd.reboot_required, odd.title) == (
        255, "", None, None, None, "x" * 255)
    for garbage in (None, "KB1", {"id": "openssl"}, {"id": "", "source": "apt"}, {"id": "pip", "source": "pip"}):
        assert reported_update(garbage) is None


def test_scan_reports_move_the_last_scan_and_keep_when_a_restart_began(tenant_a):
    device = tenant_a.device
    buffer = HeartbeatBuffer()
    first = timezone.now() - timedelta(hours=2)
    buffer.add_scan(UpdateScan(device_id=device.pk, scanned_at=first, error="", reboot_required=True))
    buffer.flush()
    device.refresh_from_db()
    assert (device.updates_scanned_at, device.reboot_pending_since) == (first, first)
    later = timezone.now()
    buffer.add_scan(UpdateScan(device_id=device.pk, scanned_at=later, error="apt-get exited 100: lock",
                               reboot_required=True))
    buffer.flush()
    device.refresh_from_db()  # a failed scan keeps the last successful one and says why
    assert (device.updates_scanned_at, device.updates_scan_error, device.reboot_pending_since) == (
        first, "apt-get exited 100: lock", first)
    buffer.add_scan(UpdateScan(device_id=device.pk, scanned_at=later, error="", reboot_required=False))
    buffer.add_scan(UpdateScan(device_id=device.pk + 999, scanned_at=later, error="", reboot_required=None))
    buffer.flush()
    device.refresh_from_db()
    assert (device.updates_scanned_at, device.updates_scan_error, device.reboot_pending_since) == (later, "", None)
