"""The agent's update scanners and installers, per platform: each parser against its tool's output (apt's
recorded on a Debian machine; the others as their tools print them), the install command lines, and the
restart rules with a user's postponement."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from fleetwatch_agent import reboots, updates

DATA = Path(__file__).parent / "data"

DNF_CHECK_UPDATE = """
openssl-libs.x86_64                    1:3.0.9-2.fc38                     updates
kernel-core.x86_64                     6.5.12-100.fc37                    updates
vim-minimal.x86_64                     2:9.0.2120-1.fc38                  updates
Obsoleting Packages
grub2-tools.x86_64                     1:2.06-100.fc38                    updates
    grub2-tools.x86_64                 1:2.06-95.fc38                     @updates
"""

DNF_UPDATEINFO = """
FEDORA-2023-1a2b3c4d5e Important/Sec. openssl-libs-1:3.0.9-2.fc38.x86_64
FEDORA-2023-9f8e7d6c5b bugfix         vim-minimal-2:9.0.2120-1.fc38.x86_64
FEDORA-2023-77aa88bb99 enhancement    kernel-core-6.5.12-100.fc37.x86_64
"""

WINDOWS_SCAN = json.dumps([
    {"kb": "5034441", "title": "2024-01 Security Update for Windows 11 (KB5034441)", "severity": "Important",
     "classification": "Security Updates", "size": 263847116, "reboot": 1, "released": 1704758400},
    {"kb": "2267602", "title": "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602",
     "severity": None, "classification": "Definition Updates", "size": 59482112, "reboot": 0,
     "released": 1705000000},
    {"kb": "", "title": "Intel Corporation - Display - 31.0.101.5186", "severity": None,
     "classification": "Drivers", "size": 0, "reboot": 2, "released": 1703000000},
])

SOFTWAREUPDATE = """Software Update Tool

Finding available software
Software Update found the following new or updated software:
* Label: macOS Ventura 13.6.3-22G436
\tTitle: macOS Ventura 13.6.3, Version: 13.6.3, Size: 1015521KiB, Recommended: YES, Action: restart,
* Label: Safari17.2VenturaAuto-17.2
\tTitle: Safari, Version: 17.2, Size: 153871KiB, Recommended: YES,
* Label: Background Security Improvement 13.6.3 (a)-22G436a
\tTitle: Background Security Improvement, Version: 13.6.3 (a), Size: 2048KiB, Recommended: YES, Action: restart,
"""

WINGET_UPGRADE = """Name                               Id                      Version      Available    Source
---------------------------------------------------------------------------------------------
Mozilla Firefox (x64 en-US)        Mozilla.Firefox         119.0        120.0.1      winget
7-Zip 22.01 (x64)                  7zip.7zip               22.01        23.01        winget
Microsoft Visual C++ 2015-2022 …   Microsoft.VCRedist.20… 14.36.32532  14.38.33130  winget
3 upgrades available.
"""

BREW_OUTDATED = json.dumps({
    "formulae": [{"name": "git", "installed_versions": ["2.42.0"], "current_version": "2.43.0", "pinned": False,
                  "pinned_version": None},
                 {"name": "node", "installed_versions": ["20.9.0"], "current_version": "21.4.0", "pinned": True,
                  "pinned_version": "20.9.0"}],
    "casks": [{"name": "firefox", "installed_versions": "119.0", "current_version": "120.0.1"}]})


def test_apt_upgradable_lines_recorded_on_debian():
    found = updates.parse_apt_upgradable((DATA / "apt_list_upgradable.txt").read_text())
    assert len(found) == 29  # every line but "Listing..."
    apt = next(update for update in found if update["id"] == "apt")
    assert apt | {"size": None} == {
        "id": "apt", "title": "apt 2.6.2", "source": "apt", "version": "2.6.2", "from_version": "2.6.1",
        "classification": "security", "severity": "", "security": True, "size": None, "reboot": None,
        "released": None}
    base = next(update for update in found if update["id"] == "base-files")
    assert base["security"] is False and base["classification"] == "update"
    assert base["from_version"] == "12.4+deb12u11" and base["version"] == "12.4+deb12u15"


def test_apt_marks_kernels_as_needing_a_restart_and_reads_sizes():
    found = updates.parse_apt_upgradable(
        "linux-image-amd64/stable-security,stable 6.1.123-1 amd64 [upgradable from: 6.1.119-1]\n")
    assert found[0]["reboot"] is True and found[0]["security"] is True
    sizes = updates.parse_apt_sizes((DATA / "apt_cache_show.txt").read_text())
    assert sizes[("apt", "2.6.2")] > 100_000
    assert sizes[("curl", "7.88.1-10+deb12u15")] > 100_000


def test_dnf_updates_with_their_advisories():
    found = {update["id"]: update for update in updates.parse_dnf_check_update(DNF_CHECK_UPDATE)}
    assert set(found) == {"openssl-libs.x86_64", "kernel-core.x86_64", "vim-minimal.x86_64", "grub2-tools.x86_64"}
    assert found["openssl-libs.x86_64"]["version"] == "1:3.0.9-2.fc38"
    assert found["kernel-core.x86_64"]["reboot"] is True
    advisories = updates.parse_dnf_updateinfo(DNF_UPDATEINFO)
    assert advisories["openssl-libs.x86_64"] == ("security", "important")
    assert advisories["vim-minimal.x86_64"] == ("update", "")
    assert advisories["kernel-core.x86_64"] == ("feature", "")


def test_windows_update_scan_output():
    found = updates.parse_windows_scan(WINDOWS_SCAN)
    assert [update["id"] for update in found] == ["KB5034441", "KB2267602",
                                                 "Intel Corporation - Display - 31.0.101.5186"]
    security, definitions, driver = found
    assert security["security"] is True and security["severity"] == "Important" and security["reboot"] is True
    assert security["size"] == 263847116 and security["released"] == 1704758400
    assert definitions["classification"] == "Definition Updates" and definitions["reboot"] is False
    assert driver["reboot"] is True and driver["size"] is None  # "can request" a restart counts as may need one
    single = updates.parse_windows_scan(json.dumps(json.loads(WINDOWS_SCAN)[0]))  # one update: not an array
    assert single[0]["id"] == "KB5034441"
    assert updates.parse_windows_scan("") == []


def test_softwareupdate_output():
    found = updates.parse_softwareupdate(SOFTWAREUPDATE)
    assert [update["id"] for update in found] == ["macOS Ventura 13.6.3-22G436", "Safari17.2VenturaAuto-17.2",
                                                 "Background Security Improvement 13.6.3 (a)-22G436a"]
    ventura, safari, rsr = found
    assert ventura["reboot"] is True and ventura["version"] == "13.6.3" and ventura["size"] == 1015521 * 1024
    assert safari["reboot"] is False and safari["classification"] == "recommended"
    assert rsr["security"] is True and rsr["classification"] == "security"


def test_winget_and_brew_list_applications():
    winget = updates.parse_winget_upgrade(WINGET_UPGRADE)
    assert [(u["id"], u["from_version"], u["version"]) for u in winget] == [
        ("Mozilla.Firefox", "119.0", "120.0.1"), ("7zip.7zip", "22.01", "23.01")]  # a cut id is not guessed
    assert {u["classification"] for u in winget} == {"application"}
    brew = updates.parse_brew_outdated(BREW_OUTDATED)
    assert [(u["id"], u["version"]) for u in brew] == [("git", "2.43.0"), ("firefox", "120.0.1")]  # pinned left out
    assert updates.parse_winget_upgrade("No installed package found matching input criteria.") == []


def test_install_commands_per_source_never_take_an_option_as_a_name(monkeypatch):
    monkeypatch.setattr(updates, "_powershell", lambda: "powershell")
    assert updates.install_command("apt", "openssl")[-2:] == ["--", "openssl"]
    assert updates.install_command("dnf", "openssl-libs.x86_64") == ["dnf", "upgrade", "-y", "--",
                                                                      "openssl-libs.x86_64"]
    assert updates.install_command("windows_update", "KB5034441")[-1] == "KB5034441"
    assert updates.install_command("softwareupdate", "Safari17.2VenturaAuto-17.2") == [
        "softwareupdate", "--install", "Safari17.2VenturaAuto-17.2"]
    assert updates.install_command("winget", "Mozilla.Firefox")[:4] == ["winget", "upgrade", "--id",
                                                                         "Mozilla.Firefox"]
    for bad in ("--all", "-y", ""):
        with pytest.raises(updates.UnknownSource):
            updates.install_command("apt", bad)
    with pytest.raises(updates.UnknownSource):
        updates.install_command("pip", "requests")
    assert updates.installed_already("winget", -1978335189, "")
    assert not updates.installed_already("apt", 100, "E: Unable to locate package")


def test_restart_rules():
    always = reboots.RebootPolicy(mode="always")
    assert always.needed(installed_any=True, update_asks=False, device_asks=False)
    assert not always.needed(installed_any=False, update_asks=False, device_asks=True)
    required = reboots.RebootPolicy(mode="if_required")
    assert required.needed(installed_any=True, update_asks=False, device_asks=True)
    assert required.needed(installed_any=True, update_asks=True, device_asks=None)
    assert not required.needed(installed_any=True, update_asks=False, device_asks=False)
    assert not reboots.RebootPolicy(mode="never").needed(installed_any=True, update_asks=True, device_asks=True)
    odd = reboots.RebootPolicy.from_payload({"mode": "sometimes", "warn_minutes": "5", "max_postpone_minutes": 10**9})
    assert (odd.mode, odd.warn_minutes, odd.max_postpone_minutes) == ("never", 15, 1440)


def test_a_postponement_request_is_read_once_and_only_when_it_is_a_plain_number(tmp_path):
    request = tmp_path / "postpone"
    reboots.request_postponement(request, 30)
    assert reboots.take_postponement(request) == 30
    assert reboots.take_postponement(request) is None  # read once
    request.write_text("9" * 100)
    assert reboots.take_postponement(request) is None  # too large to be a request
    request.write_text("later please")
    assert reboots.take_postponement(request) is None
    secret = tmp_path / "secret"
    secret.write_text("42")
    os.symlink(secret, request)
    assert reboots.take_postponement(request) is None  # a link is never followed
    assert secret.read_text() == "42"


def test_users_are_warned_and_may_postpone_within_the_bound(tmp_path, monkeypatch):
    request = tmp_path / "postpone"
    monkeypatch.setattr(reboots, "logged_in_users", lambda: ["alice"])
    clock = {"now": 0.0}
    warnings: list[str] = []

    async def sleep(seconds: float) -> None:
        clock["now"] += max(seconds, 1.0)
        if clock["now"] == 60.0:  # a minute into the warning, alice asks for two hours
            reboots.request_postponement(request, 120)

    policy = reboots.RebootPolicy(mode="always", warn_minutes=5, max_postpone_minutes=30, message="Patch night.")
    report = asyncio.run(reboots.wait_before_restart(policy, request_file=request, cancelled=lambda: False,
                                                     warn=warnings.append, sleep=sleep, clock=lambda: clock["now"]))
    assert report == {"users": ["alice"], "warned": True, "postponed_minutes": 30, "cancelled": False}
    assert clock["now"] >= (5 + 30) * 60  # waited the warning plus what the bound allowed, not two hours
    assert warnings[0].startswith("Patch night. It restarts in 5 minute(s)") and "up to 30 more" in warnings[0]
    assert "up to" not in warnings[1]  # nothing left to postpone


def test_nobody_logged_in_restarts_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(reboots, "logged_in_users", lambda: [])
    report = asyncio.run(reboots.wait_before_restart(reboots.RebootPolicy(mode="always"),
                                                     request_file=tmp_path / "r", cancelled=lambda: False,
                                                     warn=lambda text: pytest.fail("nobody to warn")))
    assert report["warned"] is False and report["postponed_minutes"] == 0
