"""The technician's workspace in a real browser: sections in the navigation (and a menu on a phone), the `/`
search, the focused run form with its target picker, the device page's tabs, users, two-factor setup, and an
axe-core accessibility check of every main page (no serious or critical violation). Screenshots, a 390×844
phone among them, are kept under test-output/screenshots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.access import Role
from portal.inventory.telemetry import apply_inventory
from tests import factories
from tests.browser.conftest import SCREENSHOTS, browser_user, sign_in
from tests.inventory.test_telemetry import INVENTORY

pytestmark = pytest.mark.django_db(transaction=True)
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def admin(settings, tenant_a):
    return browser_user(settings, username="lead", role=Role.ADMIN, all_companies=True, is_staff=True)


def test_sections_search_and_the_phone_menu(live_daphne, tenant_a, technician, chromium, screenshot, page):
    apply_inventory(device_id=tenant_a.device.pk, content_hash="a" * 64, data=INVENTORY)
    sign_in(page, live_daphne, technician)
    sections = page.get_by_role("navigation", name="Main")
    for name in ("Fleet", "Monitoring", "Automation", "Integrations", "Administration"):
        expect(sections.get_by_text(name, exact=True)).to_be_visible()
    expect(sections.get_by_role("link", name="Users")).to_have_count(0)  # an operator does not manage users
    expect(page.get_by_role("navigation", name="Fleet").get_by_role("link", name="Overview")).to_have_attribute(
        "aria-current", "page")
    sections.get_by_text("Monitoring", exact=True).click()
    expect(sections.get_by_role("link", name="Alerts")).to_be_visible()
    screenshot("section-menu")
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    expect(page.get_by_role("searchbox", name="Search everything")).to_be_focused()
    page.keyboard.type("alpha-host")
    result = page.locator("#search-results").get_by_role("link", name="alpha-host-1")
    expect(result).to_be_visible()
    screenshot("global-search")
    result.click()
    expect(page.get_by_role("heading", name="alpha-host-1")).to_be_visible()

    phone = chromium.new_context(viewport={"width": 390, "height": 844})
    small = phone.new_page()
    sign_in(small, live_daphne, technician)
    expect(small.get_by_role("navigation", name="Main")).to_be_hidden()
    small.screenshot(path=str(SCREENSHOTS / "phone-overview.png"))
    small.get_by_role("button", name="Menu").click()
    expect(small.get_by_role("navigation", name="Main")).to_be_visible()
    small.screenshot(path=str(SCREENSHOTS / "phone-menu.png"))
    small.goto(f"{live_daphne.url}/devices/")
    expect(small.get_by_role("link", name="alpha-host-1")).to_be_visible()
    small.screenshot(path=str(SCREENSHOTS / "phone-device-list.png"))
    small.goto(f"{live_daphne.url}/devices/{tenant_a.device.pk}/")
    expect(small.get_by_role("heading", name="alpha-host-1")).to_be_visible()
    small.screenshot(path=str(SCREENSHOTS / "phone-device-page.png"), full_page=True)
    phone.close()


def test_device_tabs_and_the_focused_run_form(live_daphne, tenant_a, technician, page, screenshot):
    apply_inventory(device_id=tenant_a.device.pk, content_hash="a" * 64, data=INVENTORY)
    factories.DeviceFactory(site=tenant_a.site, hostname="alpha-ws-2")
    sign_in(page, live_daphne, technician)
    page.goto(f"{live_daphne.url}/devices/{tenant_a.device.pk}/")
    tabs = page.get_by_role("navigation", name="Device sections")
    tabs.get_by_role("link", name="Software").click()
    expect(page.get_by_role("cell", name="curl")).to_be_visible()
    expect(tabs.get_by_role("link", name="Software")).to_have_attribute("aria-current", "page")
    assert page.url.endswith("?tab=software")  # the tab is its own address
    page.get_by_role("searchbox", name="Search software").fill("ssl")
    expect(page.get_by_role("cell", name="curl")).to_be_hidden()
    expect(page.get_by_role("cell", name="openssl")).to_be_visible()
    screenshot("device-software-tab")
    tabs.get_by_role("link", name="Services").click()
    expect(page.get_by_role("cell", name="ssh.service")).to_be_visible()

    page.goto(f"{live_daphne.url}/actions/run/?kind=script")
    height_script = page.evaluate("document.body.scrollHeight")
    expect(page.get_by_label("Delay seconds")).to_have_count(0)
    page.get_by_role("navigation", name="What to run").get_by_role("link", name="Reboot").click()
    expect(page.get_by_label("Delay seconds")).to_be_visible()
    expect(page.get_by_label("Script")).to_have_count(0)
    page.get_by_label("Find a company, site, group, dynamic group or device").fill("Alpha HQ")
    page.get_by_role("radio", name=re.compile("Alpha HQ")).check()
    expect(page.locator("#target-count")).to_contain_text("2 devices will get this")
    screenshot("run-form")
    assert height_script < 1600, height_script  # one kind's fields, not every field of every kind


def test_users_two_factor_setup_and_accessibility(live_daphne, tenant_a, admin, chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page = context.new_page()
    sign_in(page, live_daphne, admin)
    page.get_by_role("navigation", name="Main").get_by_text("Administration", exact=True).click()
    page.get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "workspace-users.png"))
    page.goto(f"{live_daphne.url}/accounts/2fa/")
    expect(page.get_by_role("heading", name="Two-Factor Authentication")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "workspace-two-factor.png"))

    device = tenant_a.device
    pages = ["/", "/devices/", f"/devices/{device.pk}/", f"/devices/{device.pk}/?tab=patches", "/actions/",
             "/actions/run/?kind=script", "/alerts/", "/policies/", "/patches/", "/patches/approvals/",
             "/patches/compliance/", "/users/", "/account/", "/search/?q=alpha", "/companies/", "/scheduler/",
             "/remote-sessions/"]
    serious = {}
    for path in pages:
        page.goto(f"{live_daphne.url}{path}")
        page.add_script_tag(path=str(AXE))
        found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))""")
        if found:
            serious[path] = found
    context.close()
    assert serious == {}
