"""The connector and scheduler pages in a real browser: a sync's progress arrives live, a job is switched off."""

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from connectors.models import SyncRun
from connectors.services import create_connector
from portal.access import Role, actor_for_user
from tests.browser.conftest import browser_user, sign_in
from tests.connectors.conftest import pulseway, pulseway_connector  # noqa: F401 (fixtures)
from tests.live import run_in_other_process

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def msp_admin(settings):
    return browser_user(settings, username="msp", role=Role.ADMIN, all_companies=True)


def test_sync_progress_arrives_live_and_a_job_is_switched_off(live_daphne, msp_admin, page, screenshot):
    connector = create_connector(actor=actor_for_user(msp_admin), name="Pulseway", token_id="id",
                                 base_url="https://pulseway.example/v3/", token_secret="secret")
    run = SyncRun.objects.create(connector=connector, progress="devices", phase_done=100, phase_total=400)
    sign_in(page, live_daphne, msp_admin)
    page.goto(f"{live_daphne.url}/connectors/{connector.pk}/")
    card = page.locator(f"#connector-progress-{connector.pk}")
    expect(card).to_contain_text("100 of 400")
    page.wait_for_timeout(500)  # the live socket is open
    run_in_other_process(
        "from connectors.models import SyncRun\nfrom connectors.engine import announce_run\n"
        f"SyncRun.objects.filter(pk={run.pk}).update(phase_done=300, created=300)\n"
        f"announce_run(SyncRun.objects.get(pk={run.pk}))\n")
    expect(card).to_contain_text("300 of 400", timeout=10_000)
    expect(card.locator("progress")).to_have_attribute("value", "75")
    screenshot("sync-progress")

    call_command("sync_schedules", stdout=open("/dev/null", "w"))  # noqa: SIM115
    page.get_by_text("Administration", exact=True).click()
    page.get_by_role("link", name="Scheduler").click()
    row = page.locator("tr", has_text="connectors: sync Pulseway")
    expect(row).to_contain_text("hourly")
    page.once("dialog", lambda dialog: dialog.accept())  # "Stop running …?"
    row.get_by_role("button", name="Disable").click()
    expect(page.locator("tr", has_text="connectors: sync Pulseway")).to_contain_text("off")
    screenshot("scheduler")


def test_a_sync_that_adds_devices_offers_a_refresh_that_shows_them(live_daphne, pulseway,  # noqa: F811
                                                                  pulseway_connector,  # noqa: F811
                                                                  settings, page, screenshot):
    from connectors.sync import run_sync
    from portal.tenancy.models import Company

    run_sync(connector=pulseway_connector)
    technician = browser_user(settings, username="tech", role=Role.OPERATOR,
                              companies=[Company.objects.get(name="Org 1")])
    sign_in(page, live_daphne, technician)
    page.goto(f"{live_daphne.url}/devices/?q=pw-101")
    expect(page.locator("tbody tr")).to_have_count(3)
    page.wait_for_timeout(500)  # the live socket is open
    newcomer = dict(pulseway.data.devices[0], Identifier="00000000-0000-0000-0101-000000000099", Name="pw-101-9")
    pulseway.data.devices.append(newcomer)
    run_in_other_process("from connectors.models import Connector\nfrom connectors.sync import run_sync\n"
                         f"run_sync(connector=Connector.objects.get(pk={pulseway_connector.pk}))\n")
    notice = page.get_by_role("status").filter(has_text="changed records of Org 1")
    expect(notice).to_be_visible(timeout=10_000)
    screenshot("import-notice")
    notice.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("link", name="pw-101-9")).to_be_visible()
    expect(notice).to_be_hidden()
