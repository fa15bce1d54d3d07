"""The dashboard in a real browser against a real daphne and the real agent."""

import re

import pytest
from playwright.sync_api import expect

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token
from portal.inventory.models import Device
from tests import factories
from tests.agent.test_agent_end_to_end import _agent, _start_agent
from tests.browser.conftest import sign_in
from tests.live import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
def test_device_goes_offline_and_online_without_a_reload(live_daphne, tenant_a, technician, page, screenshot,
                                                         tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\nbackoff_initial = 0.5\nbackoff_max = 2.0\n'
                      "collect_updates = false\ncollect_software = false\n")
    token = create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="browser").plaintext
    assert _agent(config, "enroll", "--server", live_daphne.url, "--token", token).returncode == 0
    device = Device.objects.get(hostname__in=[d.hostname for d in Device.objects.exclude(pk=tenant_a.device.pk)])
    Device.objects.filter(pk=device.pk).update(heartbeat_interval=1)  # so the chart visibly fills
    agent = _start_agent(config)
    try:
        wait_for(lambda: Device.objects.get(pk=device.pk).status == "online", what="agent online")
        sign_in(page, live_daphne, technician)
        page.goto(f"{live_daphne.url}/devices/?q={device.hostname}")
        row = page.locator(f"#device-row-{device.pk}")
        expect(row).to_contain_text("Online")
        page.evaluate("window.__sameDocument = true")
        screenshot("online")

        agent.kill()
        agent.wait(timeout=10)
        expect(row).to_contain_text("Offline", timeout=15_000)
        screenshot("offline")
        agent = _start_agent(config)
        expect(row).to_contain_text("Online", timeout=20_000)
        assert page.evaluate("window.__sameDocument") is True  # never reloaded
        screenshot("online-again")

        page.get_by_role("link", name=device.hostname).click()
        expect(page.locator("polyline").first).to_be_attached(timeout=15_000)
        expect(page.locator(f"#device-status-{device.pk}")).to_have_text("Online")
        page.evaluate("window.__sameDocument = true")
        points = f"document.querySelector('#device-metrics-{device.pk} polyline').getAttribute('points')"
        drawn = page.evaluate(f"{points}.split(' ').length")
        # Heartbeats arrive every second: the open page's chart gains points without a reload.
        # A function, not an expression: the page's policy refuses evaluating strings (no 'unsafe-eval').
        page.wait_for_function(f"() => {points}.split(' ').length >= {drawn + 3}", timeout=20_000)
        assert page.evaluate("window.__sameDocument") is True
        screenshot("device-page")
    finally:
        if agent.poll() is None:
            agent.terminate()
            agent.wait(timeout=10)


def test_search_and_paginate_the_device_list(live_daphne, tenant_a, technician, page, screenshot):
    for n in range(30):
        factories.DeviceFactory(site=tenant_a.site, hostname=f"ws-{n:02d}")
    sign_in(page, live_daphne, technician)
    page.goto(f"{live_daphne.url}/devices/?per_page=10&sort=hostname")
    page.get_by_label("Search devices").fill("ws-")
    expect(page.locator("#table")).to_contain_text("1–10 of 30")
    expect(page).to_have_url(re.compile(r"[?&]q=ws-"))
    page.get_by_role("link", name="Next ›").click()
    expect(page.locator("#table")).to_contain_text("11–20 of 30")
    expect(page.locator("#table")).to_contain_text("ws-10")
    assert "page=2" in page.url
    screenshot("page-2")
    page.get_by_role("link", name="Hostname").click()  # sort descending
    expect(page.locator("tbody tr").first).to_contain_text("ws-29")


def test_page_refreshes_what_it_missed_after_the_server_restarts(live_daphne, tenant_a, technician, page,
                                                                 screenshot):
    sign_in(page, live_daphne, technician)
    page.goto(f"{live_daphne.url}/devices/?q=alpha")
    row = page.locator(f"#device-row-{tenant_a.device.pk}")
    expect(row).to_contain_text("alpha-host-1")
    page.wait_for_timeout(500)  # the live socket is open
    page.evaluate("window.__sameDocument = true")
    live_daphne.stop()
    # Changed while the page had no socket: no push can carry this; the refresh on reconnect must.
    Device.objects.filter(pk=tenant_a.device.pk).update(hostname="alpha-renamed")
    live_daphne.start()
    expect(row).to_contain_text("alpha-renamed", timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True  # refreshed in place, not reloaded
    screenshot("refreshed-after-reconnect")


def test_a_pushed_row_keeps_its_selection(live_daphne, tenant_a, technician, page):
    from tests.graph.test_subscriptions import _set_status_elsewhere

    sign_in(page, live_daphne, technician)
    page.goto(f"{live_daphne.url}/devices/?q=alpha")
    row = page.locator(f"#device-row-{tenant_a.device.pk}")
    page.get_by_label(f"Select {tenant_a.device}").check()
    page.wait_for_timeout(500)  # the live socket is open
    _set_status_elsewhere(tenant_a.device.pk, "offline")
    expect(row).to_contain_text("Offline", timeout=10_000)
    expect(page.get_by_label(f"Select {tenant_a.device}")).to_be_checked()


def test_tick_devices_tag_them_and_filter_the_list_by_the_tag(live_daphne, tenant_a, technician, page, screenshot):
    from portal.tags.services import create_tag

    tag = create_tag(actor=system_actor(), name="patch-friday", colour="amber")
    picked = [factories.DeviceFactory(site=tenant_a.site, hostname=f"kiosk-{n}") for n in range(3)]
    factories.DeviceFactory(site=tenant_a.site, hostname="kiosk-untouched")
    sign_in(page, live_daphne, technician)
    page.goto(f"{live_daphne.url}/devices/?q=kiosk")
    for device in picked:
        page.get_by_label(f"Select {device}").check()
    page.get_by_label("Tag for the selected").select_option(label="patch-friday")
    page.get_by_role("button", name="Add tag to selected").click()
    expect(page.get_by_text("Tag patch-friday added to 3 devices.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/devices/\?q=kiosk$"))  # back where the technician was
    expect(page.locator(f"#device-row-{picked[0].pk} .tag-amber")).to_have_text("patch-friday")
    screenshot("tagged")

    page.get_by_label("Tag", exact=True).select_option(label="patch-friday")  # the list's filter
    expect(page.locator("#table")).to_contain_text("1–3 of 3")
    page.goto(f"{live_daphne.url}/devices/?tag={tag.pk}")
    expect(page.locator("#table")).to_contain_text("1–3 of 3")
    expect(page.locator("#table")).not_to_contain_text("kiosk-untouched")

    page.get_by_role("link", name=picked[0].hostname).click()
    page.get_by_text("Edit tags").click()
    page.get_by_role("checkbox", name="patch-friday").uncheck()
    page.get_by_role("button", name="Save tags").click()
    expect(page.locator("#tags")).to_contain_text("No tags.")
    assert set(tag.devices.values_list("hostname", flat=True)) == {"kiosk-1", "kiosk-2"}
