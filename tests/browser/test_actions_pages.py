"""Remote actions in a real browser: pick devices in the list, run a script, watch its output arrive
live on the action page, and follow a bulk run's progress bar to its summary."""

import re

import pytest
from playwright.sync_api import expect

from portal.access import system_actor
from portal.actions import library
from portal.actions.models import Action, ActionBatch
from tests.actions.agent_harness import AgentHandle
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_a_script_from_the_device_list_and_watch_it_live(live_daphne, tenant_a, technician, page,
                                                             screenshot, tmp_path):
    agent = AgentHandle(directory=tmp_path, server_url=live_daphne.url, site=tenant_a.site)
    library.create_script(actor=system_actor(), name="Slow hello", language="bash",
                          content="echo hello from $(hostname); sleep 2; echo done")
    agent.start()
    try:
        sign_in(page, live_daphne, technician)
        page.goto(f"{live_daphne.url}/devices/?q={agent.device.hostname}")
        page.get_by_label(f"Select {agent.device}").check()
        page.get_by_role("button", name="Run an action on the selected rows").click()
        expect(page.get_by_role("heading", name="Run an action")).to_be_visible()
        expect(page.get_by_text("1 picked device")).to_be_visible()
        page.get_by_label("Script", exact=True).select_option(label="Slow hello")
        page.once("dialog", lambda dialog: dialog.accept())  # "Queue this action?"
        page.get_by_role("button", name="Queue").click()
        expect(page.get_by_role("heading", name="Run Slow hello")).to_be_visible()
        action = Action.objects.get()
        page.evaluate("window.__sameDocument = true")
        output = page.locator(f"#action-output-{action.pk} pre").first
        expect(output).to_contain_text("hello from", timeout=20_000)
        expect(page.locator(f"#action-status-{action.pk}")).to_have_text("Running")
        screenshot("running")
        expect(page.locator(f"#action-status-{action.pk}")).to_have_text("Succeeded", timeout=20_000)
        expect(output).to_contain_text("done")
        expect(page.get_by_role("button", name="Cancel action")).to_have_count(0)  # gone once it finished
        assert page.evaluate("window.__sameDocument") is True  # pushed, not reloaded
        screenshot("succeeded")

        # A bulk run on the whole site: its other device has no agent, so the live summary shows one
        # action finished and one held for that device.
        page.goto(f"{live_daphne.url}/actions/run/?kind=script")
        page.get_by_label("Script", exact=True).select_option(label="Slow hello")
        site_name = agent.device.site.name
        page.get_by_label("Find a company, site, group, dynamic group or device").fill(site_name)
        page.get_by_role("radio", name=re.compile(rf"Site {re.escape(site_name)}")).check()
        expect(page.locator("#target-count")).to_contain_text("2 devices will get this")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Queue").click()
        page.wait_for_url("**/actions/batches/*/")
        batch = ActionBatch.objects.latest("pk")
        progress = page.locator(f"#batch-progress-{batch.pk}")
        expect(progress).to_contain_text("1 of 2 finished (50 %)", timeout=30_000)
        expect(progress).to_contain_text("1 queued")
        screenshot("bulk-done")
    finally:
        if agent.process is not None:
            agent.process.kill()
