"""The patch pages in a real browser: a technician approves an update from the queue, sees the verdict change on
the device's patch page, and reads compliance (screenshots under test-output/screenshots)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.patching.status import refresh_patch_status
from tests import factories
from tests.browser.conftest import sign_in
from tests.patching.helpers import patch_policy, with_agent

pytestmark = pytest.mark.django_db(transaction=True)


def test_approve_from_the_queue_and_see_it_on_the_device(live_daphne, tenant_a, technician, page, screenshot):
    device = with_agent(tenant_a.device)
    factories.pending_patch(device, "openssl", category="security", version="3.0.15", from_version="3.0.14",
                            title="OpenSSL 3.0.15 security update", severity="important")
    factories.pending_patch(device, "nvidia-driver-535", category="driver", title="NVIDIA driver 535")
    patch_policy(name="Alpha patching", company=tenant_a.company,
                 windows=[{"frequency": "weekly", "weekdays": [1], "starts_at": "02:00", "duration_minutes": 180}])
    refresh_patch_status()
    sign_in(page, live_daphne, technician)

    page.get_by_text("Automation", exact=True).click()  # the section's menu
    page.get_by_role("link", name="Patches", exact=True).click()
    expect(page.get_by_role("heading", name="Patches")).to_be_visible()
    expect(page.get_by_role("link", name="OpenSSL 3.0.15 security update")).to_be_visible()
    screenshot("catalogue")

    page.get_by_role("navigation", name="Automation").get_by_role("link", name="Approvals").click()
    page.get_by_label("Select nvidia-driver-535 for Alpha Corp").check()
    page.get_by_role("button", name="Approve selected").click()
    expect(page.get_by_text("1 decision(s) saved.")).to_be_visible()
    expect(page.get_by_text("Nothing waits for a decision")).to_be_visible()
    screenshot("approvals")

    page.goto(f"{live_daphne.url}/devices/{device.pk}/patches/")
    row = page.get_by_role("row", name="NVIDIA driver 535")
    expect(row).to_contain_text("Approved")
    expect(row).to_contain_text("Approved for the company by a technician.")
    expect(page.get_by_role("row", name="OpenSSL 3.0.15")).to_contain_text("3.0.14 → 3.0.15")
    screenshot("device")

    page.get_by_text("Automation", exact=True).click()
    page.get_by_role("link", name="Compliance", exact=True).click()
    expect(page.get_by_role("link", name="Alpha Corp")).to_be_visible()
    page.get_by_role("link", name="Alpha Corp").click()
    expect(page.get_by_role("heading", name="Patch compliance of Alpha Corp")).to_be_visible()
    expect(page.get_by_role("link", name="Report (PDF)")).to_be_visible()
    screenshot("compliance")
