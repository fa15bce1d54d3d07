"""The patch pages as technicians use them: the catalogue and an update, the approval queue with bulk
decisions, a device's updates with overrides, a policy's patching and windows, compliance and its reports;
each scoped to the reader's companies."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.actions.models import Action, ActionType
from portal.patching.models import (
    ComplianceReportSchedule,
    PatchApproval,
    PatchPolicy,
    PatchQueueEntry,
    PatchWindow,
)
from portal.patching.status import refresh_patch_status
from portal.policies.services import create_policy
from tests import factories
from tests.conftest import logged_in
from tests.patching.helpers import SYSTEM, patch_policy, with_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def patched_fleet(tenant_a, tenant_b):
    with_agent(tenant_a.device)
    with_agent(tenant_b.device)
    factories.pending_patch(tenant_a.device, "openssl", category="security", version="3.0.15", from_version="3.0.14")
    factories.pending_patch(tenant_a.device, "nvidia-driver", category="driver")
    factories.pending_patch(tenant_b.device, "bravo-secret-tool", category="driver")
    factories.pending_patch(tenant_b.device, "openssl", category="security", version="3.0.15")
    patch_policy(name="Alpha patching", company=tenant_a.company)
    patch_policy(name="Bravo patching", company=tenant_b.company)
    refresh_patch_status()
    return tenant_a, tenant_b


def test_the_catalogue_shows_only_the_readers_updates_and_counts(patched_fleet, operator_a, admin_user):
    page = logged_in(operator_a).get(reverse("patch-catalogue")).content.decode()
    assert "openssl 3.0.15" in page and "nvidia-driver" in page
    assert "bravo-secret-tool" not in page
    assert "<td>1</td><td>0</td>" in page  # openssl: one of *their* devices needs it, not two
    everyone = logged_in(admin_user).get(reverse("patch-catalogue"), {"q": "openssl"}).content.decode()
    assert "<td>2</td><td>0</td>" in everyone and "nvidia" not in everyone
    filtered = logged_in(operator_a).get(reverse("patch-catalogue"), {"category": "driver"}).content.decode()
    assert "nvidia-driver" in filtered and "openssl" not in filtered
    assert "Nothing matches" in logged_in(operator_a).get(reverse("patch-catalogue"), {"q": "zzz"}).content.decode()


def test_an_updates_page_decides_for_a_company(patched_fleet, operator_a, viewer_a):
    tenant_a, tenant_b = patched_fleet
    driver = factories.catalogue_update("nvidia-driver")
    page = logged_in(operator_a).get(reverse("patch-update", args=[driver.pk])).content.decode()
    assert "Awaiting approval" in page and tenant_a.device.hostname in page
    assert "Bravo" not in page
    response = logged_in(operator_a).post(reverse("patch-update-decide", args=[driver.pk]),
                                          {"company": tenant_b.company.pk, "decision": "approved"}, follow=True)
    assert "does not exist or is not yours" in response.content.decode()
    assert not PatchApproval.objects.exists()
    logged_in(operator_a).post(reverse("patch-update-decide", args=[driver.pk]),
                               {"company": tenant_a.company.pk, "decision": "approved", "note": "vendor says ok"})
    approval = PatchApproval.objects.get()
    assert (approval.decision, approval.note, approval.decided_by_label) == ("approved", "vendor says ok",
                                                                             operator_a.username)
    refused = logged_in(viewer_a).post(reverse("patch-update-decide", args=[driver.pk]),
                                       {"company": tenant_a.company.pk, "decision": "denied"}, follow=True)
    assert "operator role" in refused.content.decode()
    assert PatchApproval.objects.get().decision == "approved"


def test_the_queue_approves_and_denies_in_bulk(patched_fleet, operator_a, admin_user):
    tenant_a, tenant_b = patched_fleet
    queue = logged_in(operator_a).get(reverse("patch-approvals")).content.decode()
    assert "nvidia-driver" in queue and "bravo-secret-tool" not in queue
    mine = PatchQueueEntry.objects.get(company=tenant_a.company)
    theirs = PatchQueueEntry.objects.get(company=tenant_b.company)
    logged_in(operator_a).post(reverse("patch-approvals-decide"),
                               {"entry": [mine.pk, theirs.pk], "decision": "denied", "note": "not on servers"})
    assert list(PatchApproval.objects.values_list("company__name", "decision")) == [("Alpha Corp", "denied")]
    assert not PatchQueueEntry.objects.filter(company=tenant_a.company).exists()
    assert PatchQueueEntry.objects.filter(company=tenant_b.company).exists()  # another's row is not touched
    cleared = PatchApproval.objects.get()
    logged_in(operator_a).post(reverse("patch-decision-clear", args=[cleared.pk]))
    assert not PatchApproval.objects.exists() and PatchQueueEntry.objects.filter(company=tenant_a.company).exists()
    everyone = logged_in(admin_user).get(reverse("patch-approvals"), {"company": tenant_b.company.pk})
    assert "bravo-secret-tool" in everyone.content.decode() and "nvidia" not in everyone.content.decode()


def test_a_devices_patch_page_scans_installs_and_overrides(patched_fleet, operator_a):
    tenant_a, _ = patched_fleet
    device = tenant_a.device
    client = logged_in(operator_a)
    page = client.get(reverse("device-patches", args=[device.pk])).content.decode()
    assert "3.0.14 → 3.0.15" in page and "Approved" in page and "Awaiting approval" in page
    client.post(reverse("device-patch-action", args=[device.pk]), {"op": "scan"})
    assert Action.objects.get().action_type == ActionType.SCAN_UPDATES
    client.post(reverse("device-patch-action", args=[device.pk]), {"op": "install"})
    install = Action.objects.get(action_type=ActionType.INSTALL_PATCHES)
    assert [item["id"] for item in install.payload["updates"]] == ["openssl"]
    driver = factories.catalogue_update("nvidia-driver")
    bravo_only = factories.catalogue_update("bravo-secret-tool")
    client.post(reverse("device-patch-action", args=[device.pk]),
                {"op": "approved", "update": [driver.pk, bravo_only.pk]})
    assert list(PatchApproval.objects.values_list("device_id", "update_id")) == [(device.pk, driver.pk)]
    assert "Approved for this device" in client.get(reverse("device-patches", args=[device.pk])).content.decode()


def test_a_policys_patching_and_windows_from_its_page(tenant_a, admin_a, operator_a):
    policy = create_policy(actor=SYSTEM, name="Alpha servers", company=tenant_a.company)
    client = logged_in(admin_a)
    page = client.get(reverse("resource-detail", args=["policies", policy.pk])).content.decode()
    assert "Turn on patching" in page
    form = {"enabled": "on", "deny_list": "KB5034441\nlinux-image-*", "reboot_mode": "always",
            "reboot_warning_minutes": "10", "reboot_max_postpone_minutes": "60", "reboot_message": "Patch night",
            "suppress_alerts": "on"}
    for category in ("security", "critical", "definition", "update", "feature", "driver", "application"):
        form[f"rule_{category}"] = "approve" if category in ("security", "update") else "manual"
        form[f"defer_{category}"] = "3" if category == "update" else "0"
    client.post(reverse("policy-patching", args=[policy.pk]), form)
    patching = PatchPolicy.objects.get(policy=policy)
    assert patching.deny_list == ["KB5034441", "linux-image-*"] and patching.reboot_mode == "always"
    assert patching.rules[3] == {"category": "update", "min_severity": "", "action": "approve", "defer_days": 3}
    bad = client.post(reverse("policy-patching", args=[policy.pk]), {**form, "deny_list": "$(reboot)"}, follow=True)
    assert "is not a name or glob" in bad.content.decode()
    client.post(reverse("policy-patch-window", args=[policy.pk]),
                {"frequency": "weekly", "weekdays": ["1", "3"], "starts_at": "22:00", "duration_minutes": "180"})
    window = PatchWindow.objects.get()
    assert (window.weekdays, str(window)) == ([1, 3], "every Tuesday, Thursday at 22:00 for 180 min")
    # Operators do not change a company's policies.
    logged_in(operator_a).post(reverse("patch-window-delete", args=[window.pk]))
    assert PatchWindow.objects.exists()
    client.post(reverse("patch-window-delete", args=[window.pk]))
    assert not PatchWindow.objects.exists()


def test_compliance_pages_and_reports(patched_fleet, operator_a, admin_a):
    tenant_a, _ = patched_fleet
    overview = logged_in(operator_a).get(reverse("patch-compliance")).content.decode()
    assert "Alpha Corp" in overview and "Bravo Corp" not in overview
    company = logged_in(operator_a).get(reverse("patch-compliance-company", args=[tenant_a.company.pk]))
    assert tenant_a.device.hostname in company.content.decode()
    pdf = logged_in(operator_a).get(reverse("patch-compliance-pdf", args=[tenant_a.company.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert 'filename="patch-compliance-Alpha-Corp-' in pdf["Content-Disposition"]
    csv = logged_in(operator_a).get(reverse("patch-compliance-csv", args=[tenant_a.company.pk])).content.decode()
    assert csv.startswith("Patch compliance,Alpha Corp")
    logged_in(operator_a).post(reverse("patch-compliance-schedule", args=[tenant_a.company.pk]),
                               {"recipients": "cio@alpha.example", "day_of_month": "1", "enabled": "on"})
    assert not ComplianceReportSchedule.objects.exists()  # operators do not schedule the client's report
    logged_in(admin_a).post(reverse("patch-compliance-schedule", args=[tenant_a.company.pk]),
                            {"recipients": "cio@alpha.example\nit@alpha.example", "day_of_month": "5",
                             "enabled": "on"})
    assert ComplianceReportSchedule.objects.get().recipients == ["cio@alpha.example", "it@alpha.example"]
