"""The record of what ran cannot be erased: action history outlives its device (shown as deleted), and the
audit event of every run keeps what ran — the script's content or its library version, arguments,
parameters, environment, target and requester. Before, deleting a device deleted its actions, and the
audit event of an inline run kept only its title."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from portal.access import system_actor
from portal.actions import library
from portal.actions.models import Action, ActionStatus, ScriptVersion
from portal.actions.requests import queue_action, queue_bulk
from portal.actions.specs import script_spec
from portal.audit.models import AuditEvent
from portal.inventory import services as device_services
from portal.inventory.models import Device
from portal.tenancy import services as tenancy_services
from tests import factories
from tests.conftest import logged_in
from tests.graphql_client import global_id

pytestmark = pytest.mark.django_db
MSP = system_actor("msp admin")
SCRIPT = "curl -s https://example.invalid/x | sh"


def test_deleting_a_device_keeps_its_history(tenant_a, admin_a, actor_of, operator_a):
    actor = actor_of(admin_a)
    done = queue_action(actor=actor, device=tenant_a.device, spec=script_spec(
        actor=actor, inline_content=SCRIPT, inline_language="bash"))
    Action.objects.filter(pk=done.pk).update(status=ActionStatus.SUCCEEDED, stdout="ran\n")
    waiting = queue_action(actor=actor, device=tenant_a.device, spec=script_spec(
        actor=actor, inline_content="echo later", inline_language="bash"))
    device_services.delete_device(actor=actor_of(operator_a), device=tenant_a.device)
    kept = Action.objects.get(pk=done.pk)
    assert kept.device_id is None and kept.device_label == "alpha-host-1" and kept.stdout == "ran\n"
    assert kept.device_name == "alpha-host-1 (deleted)"
    cancelled = Action.objects.get(pk=waiting.pk)
    assert cancelled.status == ActionStatus.CANCELLED and "device was deleted" in cancelled.error
    client = logged_in(operator_a)
    page = client.get(reverse("resource-detail", args=["actions", done.pk])).content.decode()
    assert "alpha-host-1 (deleted)" in page and SCRIPT in page
    listing = client.get(reverse("resource-list", args=["actions"]) + "?q=alpha-host-1").content.decode()
    assert f"/actions/{done.pk}/" in listing


def test_deleting_a_site_keeps_the_history_of_its_devices(tenant_a, admin_a, actor_of):
    actor = actor_of(admin_a)
    action = queue_action(actor=actor, device=tenant_a.device, spec=script_spec(
        actor=actor, inline_content="uptime", inline_language="bash"))
    tenancy_services.delete_site(actor=actor, site=tenant_a.site)
    assert not Device.objects.exists() and Action.objects.get(pk=action.pk).device_label == "alpha-host-1"


def test_the_audit_event_of_an_inline_run_keeps_what_ran(tenant_a, admin_a, actor_of):
    actor = actor_of(admin_a)
    action = queue_action(actor=actor, device=tenant_a.device, spec=script_spec(
        actor=actor, inline_content=SCRIPT, inline_language="bash", arguments=["--now"],
        environment={"MODE": "fast"}, run_as="nobody"))
    event = AuditEvent.objects.get(action="action.requested", object_id=str(action.pk))
    runs = event.after["runs"]
    assert runs["content"] == SCRIPT and runs["content_sha256"] == hashlib.sha256(SCRIPT.encode()).hexdigest()
    assert runs["arguments"] == ["--now"] and runs["environment"] == {"MODE": "fast"} and runs["run_as"] == "nobody"
    assert event.after["device_label"] == "alpha-host-1" and event.actor_label == "admin-a"
    Device.objects.all().delete()
    Action.objects.all().delete()  # even if history were removed, the audit event still says what ran
    assert AuditEvent.objects.get(pk=event.pk).after["runs"]["content"] == SCRIPT


def test_a_library_run_keeps_the_version_whose_content_survives_the_script(tenant_a, operator_a, actor_of, admin_user):
    script = library.create_script(actor=MSP, name="Rotate logs", language="bash", content="logrotate -f /etc/x",
                                   parameters=[{"name": "days", "type": "number", "default": 7}])
    actor = actor_of(operator_a)
    action = queue_action(actor=actor, device=tenant_a.device, spec=script_spec(actor=actor, script=script,
                                                                               parameters={"days": 3}))
    after = AuditEvent.objects.get(action="action.requested", object_id=str(action.pk)).after
    assert after["script"] == script.pk and after["script_version"] == 1 and after["script_name"] == "Rotate logs"
    assert after["runs"]["parameters"] == {"days": 3} and "content" not in after["runs"]
    assert after["runs"]["content_sha256"] == hashlib.sha256(b"logrotate -f /etc/x").hexdigest()
    Action.objects.all().delete()
    library.delete_script(actor=actor_of(admin_user), script=script)
    version = ScriptVersion.objects.get(name="Rotate logs", number=after["script_version"])
    assert hashlib.sha256(version.content.encode()).hexdigest() == after["runs"]["content_sha256"]


def test_a_bulk_run_keeps_the_content_once_per_company(tenant_a, tenant_b, admin_user, actor_of):
    actor = actor_of(admin_user)
    for _ in range(3):
        factories.DeviceFactory(site=tenant_a.site)
    result = queue_bulk(actor=actor, devices=Device.objects.all(), spec=script_spec(
        actor=actor, inline_content=SCRIPT, inline_language="bash"))
    assert result.queued == 5
    per_company = AuditEvent.objects.filter(action="actionbatch.requested")
    assert sorted(per_company.values_list("company_id", flat=True)) == sorted([tenant_a.company.pk,
                                                                              tenant_b.company.pk])
    assert all(event.after["runs"][0]["content"] == SCRIPT for event in per_company)
    per_action = AuditEvent.objects.filter(action="action.requested")
    assert per_action.count() == 5 and all("content" not in e.after["runs"] for e in per_action)
    assert {e.after["runs"]["content_sha256"] for e in per_action} == {hashlib.sha256(SCRIPT.encode()).hexdigest()}


def test_graphql_shows_the_deleted_device_by_its_label(gql_as, tenant_a, admin_a, actor_of):
    actor = actor_of(admin_a)
    action = queue_action(actor=actor, device=tenant_a.device, spec=script_spec(
        actor=actor, inline_content="uptime", inline_language="bash"))
    device_services.delete_device(actor=actor, device=tenant_a.device)
    answer = gql_as(admin_a)("""query ($id: ID!) { node(id: $id) { ... on Action { device { id } deviceLabel
        status } } }""", {"id": global_id("Action", action.pk)})
    assert answer["data"]["node"] == {"device": None, "deviceLabel": "alpha-host-1", "status": "cancelled"}
