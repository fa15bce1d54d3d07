"""The pages work in a real browser under the strict Content-Security-Policy: nothing is refused, the live
socket connects and pushes, htmx swaps, and confirmations (no inline script) still ask before acting."""

from __future__ import annotations

import pytest
from django_q.models import Schedule
from playwright.sync_api import expect

from dashboard.management.commands.sync_schedules import Command as SyncSchedules
from portal.access import Role
from tests.browser.conftest import browser_user, sign_in
from tests.graph.test_subscriptions import _set_status_elsewhere

pytestmark = pytest.mark.django_db(transaction=True)


def _watch_policy(page) -> list[str]:
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text else None)
    return refused


def test_pages_work_under_the_policy(live_daphne, tenant_a, technician, page, screenshot):
    refused = _watch_policy(page)
    sign_in(page, live_daphne, technician)
    for path in ("/", "/devices/", f"/devices/{tenant_a.device.pk}/", "/actions/run/?kind=script", "/alerts/",
                 "/graphql/"):
        page.goto(f"{live_daphne.url}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{live_daphne.url}/devices/?q=alpha")
    opened = page.wait_for_function("() => window.htmx !== undefined")
    assert opened
    page.wait_for_timeout(500)  # the live socket opens
    _set_status_elsewhere(tenant_a.device.pk, "offline")
    expect(page.locator(f"#device-row-{tenant_a.device.pk}")).to_contain_text("Offline", timeout=10_000)
    page.get_by_role("searchbox", name="Search devices").fill("nothing-matches-this")
    expect(page.get_by_text("alpha-host-1")).to_have_count(0, timeout=10_000)  # the htmx swap ran
    screenshot("under-policy")
    assert refused == []


def test_a_confirmation_still_asks_before_acting(live_daphne, settings, page):
    admin = browser_user(settings, username="msp", role=Role.ADMIN, all_companies=True, is_staff=True)
    SyncSchedules().handle()
    job = Schedule.objects.order_by("name").first()
    refused = _watch_policy(page)
    sign_in(page, live_daphne, admin)
    page.goto(f"{live_daphne.url}/scheduler/{job.pk}/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Disable").first.click()
    page.wait_for_timeout(500)
    assert Schedule.objects.get(pk=job.pk).repeats != 0  # said no: nothing changed
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Disable").first.click()
    expect(page.get_by_role("button", name="Enable").first).to_be_visible(timeout=10_000)
    assert Schedule.objects.get(pk=job.pk).repeats == 0 and refused == []
