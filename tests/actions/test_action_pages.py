"""The remote-actions pages: run forms (one device, picked devices, a group), reboot confirmation,
history filters, action detail, library pages and their roles."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_q.models import Schedule

from portal.access import system_actor
from portal.actions import library
from portal.actions.models import Action, ActionBatch, ActionSchedule, ActionStatus, Script
from portal.inventory.models import OsType
from tests import factories
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db
ADMIN = system_actor("admin")


@pytest.fixture
def script(db):
    return library.create_script(actor=ADMIN, name="Uptime", language="bash", content="uptime")


def test_reboot_one_device_from_its_page(tenant_a, operator_a):
    client = logged_in(operator_a)
    device_page = client.get(reverse("resource-detail", args=["devices", tenant_a.device.pk])).content.decode()
    assert f"{reverse('action-new')}?device={tenant_a.device.pk}&amp;kind=reboot" in device_page
    form = client.get(reverse("action-new"), {"device": tenant_a.device.pk, "kind": "reboot"}).content.decode()
    assert "hx-confirm" in form and tenant_a.device.hostname in form
    response = client.post(reverse("action-new"), {"kind": "reboot", "device": [tenant_a.device.pk],
                                                   "delay_seconds": 120, "message": "Saving your work?"})
    action = Action.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("resource-detail", args=["actions", action.pk])
    assert action.payload == {"delay_seconds": 120, "message": "Saving your work?"}
    assert action.requested_by_id == operator_a.pk
    detail = client.get(response["Location"]).content.decode()
    assert "Cancel action" in detail and "Queued" in detail


def test_bulk_on_picked_devices_and_on_a_group_with_progress(tenant_a, operator_a, script):
    second = factories.DeviceFactory(site=tenant_a.site, group=tenant_a.group, hostname="alpha-host-2")
    windows = factories.DeviceFactory(site=tenant_a.site, group=tenant_a.group, hostname="alpha-win",
                                      os_type=OsType.WINDOWS)
    client = logged_in(operator_a)
    picked = client.post(reverse("action-new"), {"kind": "script", "script": script.pk,
                                                 "device": [tenant_a.device.pk, second.pk]})
    batch = ActionBatch.objects.get()
    assert picked["Location"] == reverse("batch-detail", args=[batch.pk]) and batch.actions.count() == 2
    grouped = client.post(reverse("action-new"), {"kind": "script", "script": script.pk, "group": tenant_a.group.pk})
    assert grouped.status_code == 302
    newest = ActionBatch.objects.order_by("-pk").first()
    assert set(newest.actions.values_list("device__hostname", flat=True)) == {tenant_a.device.hostname, second.hostname}
    Action.objects.filter(batch=newest, device=second).update(status=ActionStatus.SUCCEEDED)
    page = client.get(grouped["Location"]).content.decode()
    assert "<progress" in page and "1</strong> of 2 finished (50 %)" in page
    only_windows = client.post(reverse("action-new"), {"kind": "script", "script": script.pk,
                                                       "device": [windows.pk]})
    assert "runs on Linux, macOS; alpha-win runs Windows" in only_windows.content.decode()


def test_inline_scripts_are_offered_only_with_the_permission(tenant_a, operator_a, admin_a):
    form = logged_in(operator_a).get(reverse("action-new"), {"device": tenant_a.device.pk}).content.decode()
    assert 'value="inline"' not in form
    refused = logged_in(operator_a).post(reverse("action-new"), {"kind": "inline", "language": "bash",
                                                                 "content": "id", "device": [tenant_a.device.pk]})
    assert refused.status_code == 200 and not Action.objects.exists()
    done = logged_in(admin_a).post(reverse("action-new"), {"kind": "inline", "language": "bash", "content": "id",
                                                           "device": [tenant_a.device.pk], "arguments": "a\nb"})
    assert done.status_code == 302 and Action.objects.get().payload["arguments"] == ["a", "b"]


def test_viewers_see_history_but_cannot_run(tenant_a, viewer_a):
    client = logged_in(viewer_a)
    assert client.get(reverse("action-new")).status_code == 403
    assert client.get(reverse("resource-list", args=["actions"])).status_code == 200
    device_page = client.get(reverse("resource-detail", args=["devices", tenant_a.device.pk])).content.decode()
    assert "Run script" not in device_page


def test_history_filters_search_and_dates(tenant_a, operator_a, script):
    client = logged_in(operator_a)
    client.post(reverse("action-new"), {"kind": "reboot", "device": [tenant_a.device.pk]})
    client.post(reverse("action-new"), {"kind": "script", "script": script.pk, "device": [tenant_a.device.pk]})
    listing = reverse("resource-list", args=["actions"])
    assert "Run Uptime" not in client.get(listing, {"type": "reboot"}).content.decode()
    assert "Run Uptime" in client.get(listing, {"q": "uptime"}).content.decode()
    by_device = client.get(listing, {"device": tenant_a.device.pk, "requester": "operator-a"}).content.decode()
    assert "Run Uptime" in by_device
    assert "Run Uptime" not in client.get(listing, {"since": "2999-01-01"}).content.decode()
    assert "Run Uptime" in client.get(listing, {"until": "2999-01-01", "since": "not a date"}).content.decode()


def test_library_pages_are_for_admins_to_edit(operator_a, admin_a, admin_user, script):
    for refused in (operator_a, admin_a):
        assert logged_in(refused).get(reverse("resource-create", args=["scripts"])).status_code == 403
        assert logged_in(refused).get(reverse("resource-edit", args=["scripts", script.pk])).status_code == 403
        page = logged_in(refused).get(reverse("resource-detail", args=["scripts", script.pk]))
        assert page.status_code == 200 and reverse("resource-edit", args=["scripts", script.pk]) not in \
            page.content.decode()
    client = logged_in(admin_user)
    edited = client.post(reverse("resource-edit", args=["scripts", script.pk]), {
        "name": "Uptime", "language": "bash", "content": "uptime -p", "default_timeout": 60,
        "arguments": "", "environment": "LANG=C"})
    assert edited.status_code == 302
    page = client.get(reverse("resource-detail", args=["scripts", script.pk])).content.decode()
    assert "v2" in page and "root-admin" in page and "content, default_timeout, environment" in page
    assert Script.objects.get().environment == {"LANG": "C"}
    bad = client.post(reverse("resource-edit", args=["scripts", script.pk]), {
        "name": "Uptime", "language": "batch", "target_os": "linux", "content": "x", "default_timeout": 60})
    assert "does not run on Linux" in bad.content.decode()


def test_profile_pages_add_tasks_and_copy_templates(admin_user, script):
    client = logged_in(admin_user)
    client.post(reverse("resource-create", args=["profiles"]), {"name": "Baseline", "is_template": "on"})
    template = library.DeploymentProfile.objects.get()
    added = client.post(reverse("profile-task-new", args=[template.pk]), {
        "name": "Check uptime", "action_type": "run_script", "script": script.pk, "arguments": "-p"})
    assert added.status_code == 302
    assert template.tasks.get().options == {"arguments": ["-p"]}
    missing = client.post(reverse("profile-task-new", args=[template.pk]), {"name": "x", "action_type": "run_script"})
    assert "needs a library script" in missing.content.decode()
    copied = client.post(reverse("profile-instantiate", args=[template.pk]), {"name": "Acme baseline"})
    copy = library.DeploymentProfile.objects.get(name="Acme baseline")
    assert copied["Location"] == reverse("resource-detail", args=["profiles", copy.pk]) and copy.tasks.count() == 1


def test_schedule_pages(tenant_a, operator_a, script):
    client = logged_in(operator_a)
    created = client.post(reverse("resource-create", args=["schedules"]), {
        "name": "Hourly uptime", "company": tenant_a.company.pk, "script": script.pk, "kind": "minutes",
        "every": 60, "enabled": "on"})
    assert created.status_code == 302, created.content.decode()
    schedule = ActionSchedule.objects.get()
    assert Schedule.objects.get(pk=schedule.q_schedule_id).minutes == 60
    page = client.get(created["Location"]).content.decode()
    assert "Next run" in page and "It has not run yet." in page


def test_overview_numbers_link_to_filtered_lists(tenant_a, operator_a):
    factories.pending_patch(tenant_a.device, "openssl")
    client = logged_in(operator_a)
    overview = client.get(reverse("home")).content.decode()
    assert "?patches=pending" in overview and f"?company={tenant_a.company.pk}&amp;status=online" in overview
    patched = client.get(reverse("resource-list", args=["devices"]), {"patches": "pending"}).content.decode()
    assert tenant_a.device.hostname in patched
    form = client.get(reverse("action-new"), {"device": tenant_a.device.pk, "kind": "patches"}).content.decode()
    assert "openssl</textarea>" in form  # the device's pending patches, ready to trim
    client.post(reverse("action-new"), {"kind": "reboot", "device": [tenant_a.device.pk]})
    action_url = reverse("resource-detail", args=["actions", Action.objects.get().pk])
    assert action_url in client.get(reverse("resource-list", args=["actions"]), {"state": "open"}).content.decode()
    finished = client.get(reverse("resource-list", args=["actions"]), {"state": "finished"}).content.decode()
    assert action_url not in finished
