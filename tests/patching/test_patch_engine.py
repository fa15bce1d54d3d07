"""The approval engine: rules and deny lists as saved, windows in each company's zone, and the verdict on each
update a device needs (what decides, in order), with the device summaries the pages count."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal.actions.models import SoftwareItem
from portal.patching import services
from portal.patching.evaluation import State, evaluate
from portal.patching.models import DevicePatchStatus, Frequency, PatchQueueEntry, PatchWindow
from portal.patching.rules import DEFAULT_RULES, clean_deny_list, clean_rules, denied_by, matching_rule
from portal.patching.status import refresh_patch_status
from portal.patching.windows import next_occurrence, occurs_on, open_occurrence
from portal.policies.models import Level
from tests import factories
from tests.patching.helpers import SYSTEM, patch_policy

pytestmark = pytest.mark.django_db
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def test_rules_are_checked_with_the_rule_named():
    assert clean_rules(list(DEFAULT_RULES)) == list(DEFAULT_RULES)
    cases = [([{"category": "security", "action": "approve", "defer_days": -1}], "Rule 1: defer_days"),
             ([{"category": "security", "action": "approve"}, {"category": "gadgets", "action": "deny"}],
              "Rule 2: category"),
             ([{"category": "*", "action": "install"}], "Rule 1: action"),
             ([{"category": "*", "action": "manual", "defer_days": 3}], "only an approving rule defers"),
             ([{"category": "*", "action": "deny", "min_severity": "catastrophic"}], "min_severity"),
             ([{"category": "*", "action": "deny", "when": "always"}], "unknown key"),
             ("approve everything", "Rules are a list")]
    for value, message in cases:
        with pytest.raises(ValidationError) as refused:
            clean_rules(value)
        assert message in str(refused.value), value


def test_first_matching_rule_decides_and_severity_is_a_floor():
    rules = clean_rules([{"category": "security", "min_severity": "critical", "action": "approve"},
                         {"category": "security", "action": "approve", "defer_days": 3},
                         {"category": "*", "action": "manual"}])
    assert matching_rule(rules, category="security", severity="critical")[0] == 1
    assert matching_rule(rules, category="security", severity="important")[0] == 2
    assert matching_rule(rules, category="security", severity="")[0] == 2
    assert matching_rule(rules, category="driver", severity="critical")[0] == 3
    assert matching_rule([], category="driver", severity="") is None


def test_deny_list_takes_names_and_globs_only():
    assert clean_deny_list(["KB5034441", "linux-image-*", " firefox "]) == ["KB5034441", "linux-image-*", "firefox"]
    for bad in (["rm -rf /; echo"], ["$(reboot)"], ["a\nb"], [7], "KB1"):
        with pytest.raises(ValidationError):
            clean_deny_list(bad)
    assert denied_by(["linux-image-*", "kb5034441"], "KB5034441") == "kb5034441"
    assert denied_by(["linux-image-*"], "linux-image-6.1.0-28-amd64") == "linux-image-*"
    assert denied_by(["linux-image-*"], "linux-headers-amd64") is None


def test_windows_occur_in_local_time_and_may_cross_midnight():
    weekly = PatchWindow(frequency=Frequency.WEEKLY, weekdays=[1, 3], starts_at=time(23, 0), duration_minutes=240)
    tuesday_late = datetime(2026, 12, 8, 23, 30, tzinfo=BERLIN)  # a Tuesday
    occurrence = open_occurrence(weekly, at=tuesday_late.astimezone(UTC), zone=BERLIN)
    assert occurrence is not None and occurrence.start == datetime(2026, 12, 8, 23, 0, tzinfo=BERLIN)
    wednesday_early = datetime(2026, 12, 9, 2, 59, tzinfo=BERLIN)
    assert open_occurrence(weekly, at=wednesday_early, zone=BERLIN) == occurrence  # still open after midnight
    assert open_occurrence(weekly, at=datetime(2026, 12, 9, 3, 0, tzinfo=BERLIN), zone=BERLIN) is None
    # The same instant is 17:30 in New York: no window there.
    assert open_occurrence(weekly, at=tuesday_late, zone=NEW_YORK) is None
    upcoming = next_occurrence(weekly, after=datetime(2026, 12, 9, 3, 0, tzinfo=BERLIN), zone=BERLIN)
    assert upcoming.start == datetime(2026, 12, 10, 23, 0, tzinfo=BERLIN)


def test_monthly_windows_on_the_nth_and_last_weekday():
    second_tuesday = PatchWindow(frequency=Frequency.MONTHLY, week_of_month=2, weekday=1, starts_at=time(2, 0),
                                 duration_minutes=120)
    days = [day for day in range(1, 32) if occurs_on(second_tuesday, datetime(2026, 12, day).date())]
    assert days == [8]
    last_friday = PatchWindow(frequency=Frequency.MONTHLY, week_of_month=5, weekday=4, starts_at=time(2, 0),
                              duration_minutes=120)
    assert [day for day in range(1, 32) if occurs_on(last_friday, datetime(2026, 12, day).date())] == [25]


def test_window_fields_are_checked():
    policy = patch_policy(name="Windows check", company=factories.CompanyFactory()).policy
    for fields, message in (({"frequency": "weekly", "weekdays": [], "starts_at": "02:00"}, "days of the week"),
                            ({"frequency": "weekly", "weekdays": [7], "starts_at": "02:00"}, "days of the week"),
                            ({"frequency": "monthly", "starts_at": "02:00"}, "which week"),
                            ({"frequency": "daily", "starts_at": "02:00", "duration_minutes": 10}, "30")):
        with pytest.raises(ValidationError) as refused:
            services.add_patch_window(actor=SYSTEM, policy=policy, **fields)
        assert message in str(refused.value), fields


def _verdicts(device) -> dict[str, tuple[str, str]]:
    found = next(evaluate(device_ids=[device.pk]))
    return {update.identifier: (verdict.state, verdict.reason) for update, verdict in found.verdicts}


def test_what_decides_in_order(tenant_a, tenant_b):
    device = tenant_a.device
    old = timezone.now() - timedelta(days=30)
    factories.pending_patch(device, "openssl", category="security")
    factories.pending_patch(device, "tzdata", category="update", first_seen_at=old)
    factories.pending_patch(device, "tzdata-new", category="update")
    factories.pending_patch(device, "nvidia-driver", category="driver")
    factories.pending_patch(device, "linux-image-amd64", category="security")
    factories.pending_patch(device, "curl", category="update", first_seen_at=old)
    assert {state for state, _ in _verdicts(device).values()} == {State.UNMANAGED}

    patch_policy(name="Alpha patching", company=tenant_a.company, deny_list=["linux-image-*"])
    verdicts = _verdicts(device)
    assert verdicts["openssl"][0] == State.APPROVED and "Rule 1" in verdicts["openssl"][1]
    assert verdicts["tzdata"][0] == State.APPROVED  # older than the seven days' deferral
    assert verdicts["tzdata-new"][0] == State.DEFERRED
    assert verdicts["nvidia-driver"][0] == State.AWAITING
    assert verdicts["linux-image-amd64"] == (State.DENIED, "On the deny list of Alpha patching (linux-image-*).")

    curl = factories.catalogue_update("curl")
    services.decide_updates(actor=SYSTEM, company=tenant_a.company, updates=[curl], decision="denied")
    assert _verdicts(device)["curl"][0] == State.DENIED
    services.decide_updates(actor=SYSTEM, company=tenant_a.company, device=device, updates=[curl],
                            decision="approved")
    assert _verdicts(device)["curl"] == (State.APPROVED, "Approved for this device by a technician.")
    # The deny list is the last word, whatever a technician decided.
    kernel = factories.catalogue_update("linux-image-amd64")
    services.decide_updates(actor=SYSTEM, company=tenant_a.company, device=device, updates=[kernel],
                            decision="approved")
    assert _verdicts(device)["linux-image-amd64"][0] == State.DENIED
    # Another company's decisions never reach this one.
    services.decide_updates(actor=SYSTEM, company=tenant_b.company, updates=[factories.catalogue_update("openssl")],
                            decision="denied")
    assert _verdicts(device)["openssl"][0] == State.APPROVED


def test_the_most_specific_policy_with_patching_decides_whole(tenant_a):
    factories.pending_patch(tenant_a.device, "openssl", category="security")
    patch_policy(name="MSP patching", level=Level.MSP)
    assert _verdicts(tenant_a.device)["openssl"][0] == State.APPROVED
    patch_policy(name="Servers patch by hand", company=tenant_a.company, level=Level.GROUP, target=tenant_a.group,
                 rules=[{"category": "*", "action": "manual"}])
    assert _verdicts(tenant_a.device)["openssl"][0] == State.AWAITING


def test_applications_only_from_the_catalogue_and_when_the_policy_takes_them(tenant_a):
    device = tenant_a.device
    device.os_type = "windows"
    device.save()
    factories.pending_patch(device, "Mozilla.Firefox", source="winget", category="application")
    factories.pending_patch(device, "Some.Tool", source="winget", category="application")
    rules = [{"category": "application", "action": "approve"}, {"category": "*", "action": "manual"}]
    patching = patch_policy(name="Apps", company=tenant_a.company, rules=rules)
    assert _verdicts(device)["Mozilla.Firefox"][0] == State.EXCLUDED
    services.set_patching(actor=SYSTEM, policy=patching.policy, include_applications=True)
    SoftwareItem.objects.create(name="Firefox", winget_id="Mozilla.Firefox")
    verdicts = _verdicts(device)
    assert verdicts["Mozilla.Firefox"][0] == State.APPROVED
    assert verdicts["Some.Tool"] == (State.EXCLUDED, "Not an application of the software catalogue.")


def test_summaries_queues_and_catalogue_counts(tenant_a, tenant_b):
    for tenant in (tenant_a, tenant_b):
        factories.pending_patch(tenant.device, "openssl", category="security", severity="critical")
        factories.pending_patch(tenant.device, "nvidia-driver", category="driver")
    patch_policy(name="Alpha patching", company=tenant_a.company)
    assert refresh_patch_status() == 2
    alpha = DevicePatchStatus.objects.get(device=tenant_a.device)
    assert (alpha.pending, alpha.approved, alpha.awaiting, alpha.missing_critical, alpha.needed) == (2, 1, 1, 1, 2)
    bravo = DevicePatchStatus.objects.get(device=tenant_b.device)
    assert (bravo.unmanaged, bravo.policy_id) == (2, None)
    assert list(PatchQueueEntry.objects.values_list("company__name", "update__identifier", "devices")) == [
        ("Alpha Corp", "nvidia-driver", 1)]
    openssl = factories.catalogue_update("openssl")
    openssl.refresh_from_db()
    assert openssl.devices_needing == 2
    assert refresh_patch_status() == 0  # nothing changed, nothing written
    services.decide_updates(actor=SYSTEM, company=tenant_a.company,
                            updates=[factories.catalogue_update("nvidia-driver")], decision="approved")
    assert not PatchQueueEntry.objects.exists()  # the company was evaluated again at once
    assert DevicePatchStatus.objects.get(device=tenant_a.device).approved == 2


def test_servers_and_workstations_get_their_own_patching_through_dynamic_groups(tenant_a):
    from portal.dynamic_groups.selectors import members_of
    from portal.dynamic_groups.services import create_dynamic_group
    from portal.patching.evaluation import patch_policies_by_device

    server = factories.DeviceFactory(site=tenant_a.site, hostname="dc01", os_type="windows",
                                     os_version="Windows Server 2022 Datacenter")
    workstation = factories.DeviceFactory(site=tenant_a.site, hostname="pc-17", os_type="windows",
                                          os_version="Windows 11 Pro")
    servers = create_dynamic_group(actor=SYSTEM, name="Servers", company=tenant_a.company,
                                   rules=[{"field": "os_version", "op": "contains", "value": "server"}])
    patch_policy(name="Workstations", level=Level.MSP, reboot_mode="always")
    patch_policy(name="Servers", company=tenant_a.company, level=Level.DYNAMIC_GROUP, target=servers,
                 reboot_mode="never", rules=[{"category": "*", "action": "manual"}])
    chosen = patch_policies_by_device(device_ids=[server.pk, workstation.pk])
    assert (chosen[server.pk].policy.name, chosen[server.pk].reboot_mode) == ("Servers", "never")
    assert (chosen[workstation.pk].policy.name, chosen[workstation.pk].reboot_mode) == ("Workstations", "always")
    server.reboot_pending_since = timezone.now()
    server.save()
    waiting = create_dynamic_group(actor=SYSTEM, name="Waiting for a restart", company=tenant_a.company,
                                   rules=[{"field": "reboot_pending", "op": "yes"}])
    assert list(members_of(actor=SYSTEM, group=waiting)) == [server]
