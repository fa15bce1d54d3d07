"""The real apt path, end to end: a throwaway package is built in two versions with dpkg-deb, version 1 is
installed, version 2 is published in a local repository (apt-ftparchive, a file: source), and the real agent,
connected to a real daphne, scans, reports the update, installs it inside a patch window after a technician
approved it, and the device shows it installed. The agent's apt sees only that repository (APT_CONFIG), and
the test removes the package and the repository afterwards.

Needs root (dpkg) and apt-utils; CI runs as root and installs it."""

from __future__ import annotations

import os
import subprocess
import zoneinfo
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from portal.access import system_actor
from portal.actions.models import Action, ActionStatus, ActionType
from portal.actions.requests import queue_action
from portal.actions.specs import patches_spec
from portal.inventory.models import Device, InstalledSoftware, OutcomeState, PatchOutcome, PendingPatch
from portal.patching import services
from portal.patching.models import PatchQueueEntry
from portal.patching.rollout import open_patch_windows
from portal.patching.status import refresh_patch_status
from tests.actions.agent_harness import AgentHandle, wait_for_status
from tests.live import wait_for
from tests.patching.helpers import patch_policy

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(os.geteuid() != 0, reason="installs a package with dpkg: needs root")]
PACKAGE = "fleetwatch-patch-probe"
ACTOR = system_actor("technician")


def _build(version: str, into: Path) -> Path:
    root = into / f"{PACKAGE}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\nMaintainer: Fleetwatch tests <tests@example.com>\n"
        "Section: misc\nPriority: optional\nDescription: A package the patch tests install and remove\n")
    (root / "usr" / "share" / PACKAGE).mkdir(parents=True)
    (root / "usr" / "share" / PACKAGE / "version").write_text(version)
    package = into / f"{PACKAGE}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(package)], check=True,
                   capture_output=True)
    return package


@pytest.fixture
def apt_repository(tmp_path):
    """Version 1 installed, version 2 in a file: repository; yields the APT_CONFIG that sees only it."""
    builds = tmp_path / "builds"
    builds.mkdir()
    repository = tmp_path / "repository"
    repository.mkdir()
    subprocess.run(["dpkg", "-i", str(_build("1.0", builds))], check=True, capture_output=True)
    newer = _build("2.0", builds)
    newer.rename(repository / newer.name)
    packages = subprocess.run(["apt-ftparchive", "packages", "."], cwd=repository, check=True, capture_output=True,
                              text=True).stdout
    (repository / "Packages").write_text(packages)
    state = tmp_path / "apt"
    for folder in ("lists/partial", "cache/archives/partial", "sources.list.d"):
        (state / folder).mkdir(parents=True)
    (state / "sources.list").write_text(f"deb [trusted=yes] file:{repository} ./\n")
    config = state / "apt.conf"
    config.write_text(f'Dir::Etc::sourcelist "{state / "sources.list"}";\n'
                      f'Dir::Etc::sourceparts "{state / "sources.list.d"}";\n'
                      f'Dir::State::lists "{state / "lists"}";\nDir::Cache "{state / "cache"}";\n'
                      'APT::Get::List-Cleanup "0";\n')
    try:
        yield config
    finally:
        subprocess.run(["dpkg", "--purge", PACKAGE], capture_output=True)


def _installed_version() -> str:
    found = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PACKAGE], capture_output=True, text=True)
    return found.stdout


def _fresh(query):
    connection.close()  # read what the server's process committed
    return query()


@pytest.fixture
def agent(live_daphne, tenant_a, tmp_path):
    handle = AgentHandle(directory=tmp_path / "agent", server_url=live_daphne.url, site=tenant_a.site,
                         settings="collect_services = false\ninventory_every = 2\nsimulate_reboots = true\n"
                                  f'postpone_reboot_file = "{tmp_path / "postpone"}"\n')
    yield handle
    if handle.process is not None and handle.process.poll() is None:
        handle.process.kill()
        handle.process.wait(timeout=10)
    print(handle.log())


def test_the_real_agent_scans_reports_and_installs_an_approved_apt_update_in_its_window(
        apt_repository, agent, tenant_a, tmp_path):
    assert _installed_version() == "1.0"
    company = tenant_a.company
    company.time_zone = "America/New_York"
    company.save()
    opened = timezone.localtime(timezone.now() - timedelta(minutes=5), zoneinfo.ZoneInfo(company.time_zone))
    patch_policy(name="Probe patching", company=company, rules=[{"category": "*", "action": "manual"}],
                 reboot_mode="if_required", reboot_warning_minutes=0,
                 windows=[{"frequency": "daily", "starts_at": opened.time().replace(microsecond=0),
                           "duration_minutes": 60}])
    agent.start(APT_CONFIG=str(apt_repository))
    device = agent.device

    # "Scan now": the agent refreshes its sources (the file: repository) and reports what it found.
    scan = services.scan_now(actor=ACTOR, devices=[device]).action
    assert scan.action_type == ActionType.SCAN_UPDATES
    assert wait_for_status(scan, ActionStatus.SUCCEEDED, timeout=60).result["updates"] == 1
    pending = wait_for(lambda: _fresh(lambda: PendingPatch.objects.filter(
        device=device, update__identifier=PACKAGE).select_related("update").first()), timeout=30,
        what="the update reported")
    assert (pending.update.source, pending.update.version, pending.from_version) == ("apt", "2.0", "1.0")
    assert wait_for(lambda: _fresh(lambda: Device.objects.get(pk=device.pk).updates_scanned_at), timeout=15,
                    what="the scan report")

    # Nothing installs before a technician approves it (the policy asks them about everything).
    refresh_patch_status()
    queued = PatchQueueEntry.objects.get(company=company)
    assert (queued.update.identifier, queued.devices) == (PACKAGE, 1)
    services.decide_updates(actor=ACTOR, company=company, updates=[pending.update], decision="approved")
    assert open_patch_windows() == 1
    install = Action.objects.get(action_type=ActionType.INSTALL_PATCHES)
    assert install.expires_at > timezone.now() and install.payload["updates"][0]["id"] == PACKAGE

    done = wait_for_status(install, ActionStatus.SUCCEEDED, timeout=120)
    assert _installed_version() == "2.0"
    [reported] = done.result["patches"]
    assert (reported["status"], reported["exit_code"], reported["update"]) == ("installed", 0, pending.update_id)
    assert PACKAGE in reported["output"]
    assert done.result["reboot"]["mode"] == "if_required"
    outcome = _fresh(lambda: PatchOutcome.objects.get(device=device, update=pending.update))
    assert outcome.state == OutcomeState.INSTALLED and outcome.action_number == install.pk

    # The agent's next inventory shows version 2 installed and the update no longer pending.
    wait_for(lambda: _fresh(lambda: InstalledSoftware.objects.filter(device=device, name=PACKAGE,
                                                                     version="2.0").exists()),
             timeout=30, what="version 2.0 in the inventory")
    assert not _fresh(lambda: PendingPatch.objects.filter(device=device, update__identifier=PACKAGE).exists())

    # Installing it again (a technician typing its name) is idempotent: apt has it already, and says so.
    again = queue_action(actor=ACTOR, device=device, spec=patches_spec(actor=ACTOR, patch_ids=[PACKAGE]))
    repeated = wait_for_status(again, ActionStatus.SUCCEEDED, timeout=60)
    assert repeated.result["patches"][0]["status"] == "installed"
    assert "already the newest version" in repeated.result["patches"][0]["output"]
