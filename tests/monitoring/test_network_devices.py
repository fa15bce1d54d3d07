"""Network devices: secrets encrypted at rest and kept out of the audit log, polls stored with
interface rates and history, the polling cycle that never piles up, and the pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from monitoring import polling, services
from monitoring.models import NetworkDevice, NetworkInterface, NetworkPollSample
from monitoring.snmp import InterfaceReading, PollResult
from portal.audit.models import AuditEvent
from tests.conftest import logged_in
from tests.tasks import run_queued_tasks

pytestmark = pytest.mark.django_db


def _device(tenant, actor, **fields):
    return services.create_network_device(actor=actor, site=tenant.site, name="core-sw-1", host="127.0.0.1",
                                          **{"community": "s3cret-community", **fields})


def test_secrets_are_encrypted_at_rest_and_never_audited(tenant_a, actor_of, operator_a):
    device = _device(tenant_a, actor_of(operator_a))
    with connection.cursor() as cursor:
        cursor.execute("SELECT community FROM monitoring_networkdevice WHERE id = %s", [device.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("fwenc1:") and "s3cret" not in stored
    assert NetworkDevice.objects.get(pk=device.pk).community == "s3cret-community"
    event = AuditEvent.objects.get(action="networkdevice.created")
    assert "community" not in event.after and "s3cret" not in str(event.after)


def test_v3_settings_are_checked(tenant_a, actor_of, operator_a):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        _device(tenant_a, actor_of(operator_a), snmp_version="3", community="")
    with pytest.raises(ValidationError):
        _device(tenant_a, actor_of(operator_a), snmp_version="3", v3_user="monitor", auth_protocol="sha",
                auth_key="short")
    ok = _device(tenant_a, actor_of(operator_a), snmp_version="3", v3_user="monitor", auth_protocol="sha",
                 auth_key="long-enough-key", priv_protocol="aes", priv_key="another-long-key", community="")
    assert NetworkDevice.objects.get(pk=ok.pk).priv_key == "another-long-key"


def test_poll_results_give_rates_and_history(tenant_a, actor_of, operator_a):
    device = _device(tenant_a, actor_of(operator_a))

    def result(in_octets: int) -> PollResult:
        return PollResult(status="up", response_ms=3.2, system={"name": "sw1", "uptime_seconds": 100},
                          interfaces=[InterfaceReading(if_index=1, name="Gi0/1", speed_bps=1_000_000_000,
                                                       admin_status="up", oper_status="up", in_octets=in_octets,
                                                       out_octets=10, counter_bits=64)])

    polling.store_poll_result(device_id=device.pk, result=result(1_000))
    NetworkInterface.objects.update(sampled_at=F("sampled_at") - timedelta(seconds=60))  # a minute ago
    polling.store_poll_result(device_id=device.pk, result=result(61_000))
    interface = NetworkInterface.objects.get()
    assert interface.name == "Gi0/1" and interface.in_bps == pytest.approx(60_000 * 8 / 60, rel=0.05)
    assert NetworkPollSample.objects.filter(device=device).count() == 2
    polling.store_poll_result(device_id=device.pk, result=PollResult(status="timeout", detail="No answer"))
    device.refresh_from_db()
    assert device.status == "timeout" and device.sys_name == "sw1"  # the last good facts stay


def test_a_cycle_is_shared_out_in_chunks_and_each_result_is_stored_once(snmpd, tenant_a, actor_of, operator_a,
                                                                         settings):
    settings.FLEETWATCH_SNMP_CHUNKS = 3
    actor = actor_of(operator_a)
    for number in range(polling.SMALLEST_CHUNK * 2 + 1):  # more than two chunks' worth: three chunks
        services.create_network_device(actor=actor, site=tenant_a.site, name=f"sw-{number}", host="127.0.0.1",
                                       port=snmpd.port, community=snmpd.community)
    assert polling.poll_due_devices() == {"chunks": 3}
    claims = sorted(set(NetworkDevice.objects.values_list("poll_claim", flat=True)))
    assert len(claims) == 3 and "" not in claims
    assert polling.poll_due_devices() == {}  # claimed devices are not due: the next cycle does not pile up
    ran = run_queued_tasks(func=polling.CHUNK_TASK)
    assert sorted(args for _, args in ran) == [(claim,) for claim in claims]
    assert NetworkPollSample.objects.count() == NetworkDevice.objects.count() == 101
    assert set(NetworkDevice.objects.values_list("status", "poll_claim")) == {("up", "")}
    # The same chunk delivered again (its worker was lost after storing) polls and stores nothing.
    assert polling.poll_claimed(claim=claims[0]) == {}
    assert NetworkPollSample.objects.count() == 101


def test_a_result_for_a_claim_that_ran_out_is_dropped(tenant_a, actor_of, operator_a):
    device = _device(tenant_a, actor_of(operator_a))
    [first] = polling.claim_due_devices()
    NetworkDevice.objects.update(next_poll_at=timezone.now() - timedelta(seconds=1))  # its claim ran out
    [second] = polling.claim_due_devices()
    late = PollResult(status="up", system={"name": "from the slow chunk"})
    assert polling.store_poll_result(device_id=device.pk, result=late, claim=first) is False
    assert polling.store_poll_result(device_id=device.pk, result=PollResult(status="timeout"), claim=second)
    assert polling.store_poll_result(device_id=device.pk, result=late, claim=second) is False  # stored once
    device.refresh_from_db()
    assert device.status == "timeout" and device.poll_claim == "" and NetworkPollSample.objects.count() == 1


def test_pages_and_poll_now_against_snmpd(snmpd, tenant_a, operator_a, viewer_a):
    client = logged_in(operator_a)
    created = client.post(reverse("resource-create", args=["network"]), {
        "site": tenant_a.site.pk, "name": "lab-switch", "host": "127.0.0.1", "port": snmpd.port,
        "device_type": "switch", "snmp_version": "2c", "community": snmpd.community, "poll_interval_minutes": 5})
    assert created.status_code == 302, created.content.decode()[:2000]
    device = NetworkDevice.objects.get()
    assert logged_in(viewer_a).post(reverse("network-poll", args=[device.pk])).status_code == 403
    assert client.post(reverse("network-poll", args=[device.pk])).status_code == 302
    task = "monitoring.tasks.poll_network_device_task"
    assert (task, (device.pk,)) in run_queued_tasks(func=task)
    page = client.get(reverse("resource-detail", args=["network", device.pk])).content.decode()
    assert "stand-in-agent" in page and ">lo<" in page and snmpd.community not in page
    edit = client.get(reverse("resource-edit", args=["network", device.pk])).content.decode()
    assert snmpd.community not in edit  # secrets are write-only
    kept = client.post(reverse("resource-edit", args=["network", device.pk]), {
        "site": tenant_a.site.pk, "name": "lab-switch-renamed", "host": "127.0.0.1", "port": snmpd.port,
        "device_type": "switch", "snmp_version": "2c", "community": "", "poll_interval_minutes": 5})
    assert kept.status_code == 302
    assert NetworkDevice.objects.get().community == snmpd.community


def test_changing_only_a_secret_is_saved_and_audited_without_its_value(tenant_a, actor_of, operator_a):
    device = _device(tenant_a, actor_of(operator_a))
    services.update_network_device(actor=actor_of(operator_a), networkdevice=device, community="rotated-community")
    assert NetworkDevice.objects.get(pk=device.pk).community == "rotated-community"
    event = AuditEvent.objects.get(action="networkdevice.updated")
    assert event.after == {"community": "(changed)"} and "rotated" not in str(event.before)
