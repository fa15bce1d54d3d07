"""The Agent updates page: only administrators who see every company open it; they start a ring (a dynamic
group first, a share of devices), widen it and stop it, each audited; the overview shows the fleet's versions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.access import system_actor
from portal.audit.models import AuditEvent
from portal.dynamic_groups.services import create_dynamic_group
from portal.operations.agent_release import build_release
from portal.operations.models import AgentRollout
from portal.operations.rollouts import forget_cached, no_offer_known, update_offer_for
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def built_release(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    return build_release()


def test_rings_start_widen_and_stop_from_the_page(built_release, admin_user, admin_a, tenant_a):
    tenant_a.device.agent_version = "0.0.9"
    tenant_a.device.save()
    group = create_dynamic_group(actor=system_actor("admin"), name="Canaries",
                                 rules=[{"field": "company", "op": "eq", "value": tenant_a.company.pk}])
    assert logged_in(admin_a).get(reverse("agent-updates")).status_code == 404
    page = logged_in(admin_user)
    assert "0.0.9" in page.get(reverse("home")).content.decode()  # the overview's agent versions
    answer = page.post(reverse("agent-updates"), {"percent": 0, "dynamic_group": group.pk})
    assert answer.status_code == 302
    rollout = AgentRollout.objects.get(active=True)
    assert (rollout.version, rollout.percent, rollout.dynamic_group) == (built_release.version, 0, group)
    forget_cached()
    assert not no_offer_known(agent_version="0.0.9")  # nothing read yet: the welcome asks the database
    offer = update_offer_for(device_id=tenant_a.device.pk, agent_version="0.0.9")
    assert offer["sha256"] == built_release.sha256 and offer["wheel"] == built_release.wheel.name
    assert not no_offer_known(agent_version="0.0.9")  # a ring is on: who is in it is the database's answer
    assert no_offer_known(agent_version=built_release.version)  # already on the ring's version
    assert update_offer_for(device_id=tenant_a.device.pk, agent_version=built_release.version) is None
    page.post(reverse("agent-updates"), {"stop": "1"})
    forget_cached()
    assert not AgentRollout.objects.filter(active=True).exists()
    assert update_offer_for(device_id=tenant_a.device.pk, agent_version="0.0.9") is None
    assert no_offer_known(agent_version="0.0.9")  # no ring: welcomes need no database trip
    assert "nobody" in page.post(reverse("agent-updates"), {"percent": 0}).content.decode()
    assert set(AuditEvent.objects.filter(action__startswith="agentrollout.").values_list("action", flat=True)) == {
        "agentrollout.created", "agentrollout.stopped"}
