"""One way to run on targets, for the run page and GraphQL alike: one picked device gets one action, the
OS filter applies to every kind of target (one device included: before, the page ignored it and queued),
and a target must be exactly one kind."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from portal.access import system_actor
from portal.actions import library
from portal.actions.models import Action
from portal.actions.requests import Targets, run_on_targets
from portal.actions.specs import reboot_spec
from portal.inventory.models import OsType
from tests import factories
from tests.conftest import logged_in
from tests.graphql_client import global_id

pytestmark = pytest.mark.django_db


def test_one_device_gets_one_action_and_many_a_batch(tenant_a, operator_a, actor_of):
    actor = actor_of(operator_a)
    one = run_on_targets(actor=actor, targets=Targets(device_ids=(tenant_a.device.pk,)),
                         spec=reboot_spec(actor=actor))
    assert one.action is not None and one.batch is None
    factories.DeviceFactory(site=tenant_a.site)
    many = run_on_targets(actor=actor, targets=Targets(site=tenant_a.site), spec=reboot_spec(actor=actor))
    assert many.action is None and many.batch is not None and many.queued == 2


def test_the_os_filter_applies_to_one_device_on_the_page_and_in_graphql(tenant_a, operator_a, gql_as):
    assert tenant_a.device.os_type == OsType.LINUX
    page = logged_in(operator_a).post(reverse("action-new"), {"kind": "reboot", "device": [tenant_a.device.pk],
                                                              "os_type": "windows", "delay_seconds": 0})
    assert "No device matches this target and OS filter" in page.content.decode()
    answer = gql_as(operator_a)("""mutation ($d: ID!) { reboot(input: {target: {devices: [$d], osType: "windows"}})
        { actions { id } batch { id } errors { message } } }""", {"d": global_id("Device", tenant_a.device.pk)})
    assert answer["data"]["reboot"] == {"actions": [], "batch": None, "errors": []}
    assert not Action.objects.exists()


def test_a_target_is_exactly_one_kind(tenant_a, operator_a, actor_of):
    actor = actor_of(operator_a)
    for targets in (Targets(), Targets(device_ids=(tenant_a.device.pk,), site=tenant_a.site)):
        with pytest.raises(ValidationError, match="Give devices, or one group, site, company or dynamic group"):
            run_on_targets(actor=actor, targets=targets, spec=reboot_spec(actor=actor))


def test_a_profile_is_always_a_batch(tenant_a, operator_a, actor_of):
    profile = library.create_profile(actor=system_actor(), name="p")
    library.add_profile_task(actor=system_actor(), profile=profile, name="r", action_type="reboot")
    result = run_on_targets(actor=actor_of(operator_a), targets=Targets(device_ids=(tenant_a.device.pk,)),
                            profile=profile)
    assert result.batch is not None and result.queued == 1
