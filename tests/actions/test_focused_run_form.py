"""The run form shows only the fields of the chosen kind (switching kinds works as plain links, swapped in by
htmx when present), and its target picker searches the actor's targets and says how many devices a target hits
before anything is queued."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.actions.models import Action, ActionBatch
from tests import factories
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


def _field_names(page: str) -> set[str]:
    import re

    return set(re.findall(r'name="([a-z_]+)"', page))


def test_each_kind_shows_only_its_own_fields(tenant_a, operator_a):
    client = logged_in(operator_a)
    reboot = client.get(reverse("action-new"), {"kind": "reboot", "device": tenant_a.device.pk}).content.decode()
    assert {"delay_seconds", "message"} <= _field_names(reboot)
    assert not {"script", "content", "patch_ids", "software", "profile", "timeout"} & _field_names(reboot)
    script = client.get(reverse("action-new"), {"kind": "script"}).content.decode()
    assert {"script", "timeout", "run_as", "target_q", "os_type"} <= _field_names(script)
    assert not {"delay_seconds", "patch_ids", "content", "arguments"} & _field_names(script)  # no inline permission
    assert 'href="?kind=reboot"' in script  # switching kinds is a link: it works without JavaScript


def test_the_picker_finds_only_the_actors_targets_and_counts_their_devices(tenant_a, tenant_b, operator_a):
    for n in range(3):
        factories.DeviceFactory(site=tenant_a.site, hostname=f"alpha-ws-{n}", status="offline")
    client = logged_in(operator_a)
    found = client.get(reverse("action-targets"), {"target_q": "HQ"}).content.decode()
    assert f'value="site:{tenant_a.site.pk}"' in found and "Alpha HQ" in found and "4 devices" in found
    assert "Bravo" not in found
    assert "Nothing you may target" in client.get(reverse("action-targets"), {"target_q": "Bravo"}).content.decode()
    count = client.get(reverse("action-target-count"), {"target": f"site:{tenant_a.site.pk}"}).content.decode()
    assert "4 devices" in count and "1 online now" in count
    windows = client.get(reverse("action-target-count"), {"target": f"site:{tenant_a.site.pk}",
                                                          "os_type": "windows"}).content.decode()
    assert "No device matches" in windows
    foreign = client.get(reverse("action-target-count"), {"target": f"site:{tenant_b.site.pk}"}).content.decode()
    assert "Pick a target" in foreign  # another company's site counts nothing


def test_queueing_on_a_picked_target(tenant_a, tenant_b, operator_a):
    client = logged_in(operator_a)
    factories.DeviceFactory(site=tenant_a.site, hostname="alpha-ws-9")
    response = client.post(reverse("action-new"), {"kind": "reboot", "target": f"site:{tenant_a.site.pk}"})
    assert response.status_code == 302
    assert ActionBatch.objects.count() == 1 and Action.objects.filter(company=tenant_a.company).count() == 2
    refused = client.post(reverse("action-new"), {"kind": "reboot", "target": f"site:{tenant_b.site.pk}"})
    assert "does not exist or is not yours" in refused.content.decode()
    assert not Action.objects.filter(company=tenant_b.company).exists()
