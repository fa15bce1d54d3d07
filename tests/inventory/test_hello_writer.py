"""Hellos are written by each server process's writer in batches: every device of a batch marked online and
held by its connection in one transaction, its stored hash and missed cancellations read back with it."""

from __future__ import annotations

import asyncio

import pytest
from django.utils import timezone

from portal.access import system_actor
from portal.actions.models import Action, ActionStatus
from portal.actions.requests import queue_action
from portal.actions.specs import reboot_spec
from portal.inventory import telemetry
from portal.inventory.models import Device, DeviceInventory, DeviceStatus
from portal.inventory.telemetry import AgentHello, mark_agents_connected
from realtime import hello_writer
from realtime.hello_writer import HelloWriter
from tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_batch_marks_each_device_held_by_its_last_hello(tenant_a, published):
    offline = DeviceFactory(site=tenant_a.site, status=DeviceStatus.OFFLINE)
    DeviceInventory.objects.create(device=tenant_a.device, content_hash="a" * 64, collected_at=timezone.now())
    greeted = mark_agents_connected(hellos=[
        AgentHello(device_id=offline.pk, connection_id="old", agent_version="1.0"),
        AgentHello(device_id=tenant_a.device.pk, connection_id="only"),
        AgentHello(device_id=987654, connection_id="gone"),
        AgentHello(device_id=offline.pk, connection_id="new", agent_version="1.1"),
    ])
    assert greeted == {offline.pk: None, tenant_a.device.pk: "a" * 64}  # a deleted device is left out
    row = Device.objects.get(pk=offline.pk)
    assert (row.status, row.agent_connection, row.agent_version) == ("online", "new", "1.1")
    assert Device.objects.get(pk=tenant_a.device.pk).agent_connection == "only"
    status_events = [m for m in published if m["event"] == "device.status_changed"]
    assert [(m["id"], m["status"]) for m in status_events] == [(offline.pk, "online")]  # once, for the change


def test_only_a_device_held_by_another_connection_is_told_it_was_replaced(tenant_a, monkeypatch):
    published: list[tuple[str, dict]] = []
    monkeypatch.setattr(telemetry, "publish_to_group", lambda group, message: published.append((group, message)))
    free = DeviceFactory(site=tenant_a.site, status=DeviceStatus.OFFLINE, agent_connection="")
    held = DeviceFactory(site=tenant_a.site, status=DeviceStatus.ONLINE, agent_connection="older")
    again = DeviceFactory(site=tenant_a.site, status=DeviceStatus.ONLINE, agent_connection="same")
    mark_agents_connected(hellos=[
        AgentHello(device_id=free.pk, connection_id="first"),
        AgentHello(device_id=held.pk, connection_id="newer"),
        AgentHello(device_id=again.pk, connection_id="same"),
        AgentHello(device_id=free.pk, connection_id="second"),  # the same batch: "first" must close
    ])
    replaced = [(group, m["connection_id"]) for group, m in published if m["type"] == "agent.replaced"]
    # A reconnect storm of devices no socket holds announces nothing.
    assert sorted(replaced) == sorted([(f"agent.{held.pk}", "newer"), (f"agent.{free.pk}", "second")])


def test_an_ending_process_releases_only_the_devices_held_through_its_channels(tenant_a):
    mine = DeviceFactory(site=tenant_a.site, agent_connection="a", agent_channel="specific.0123ab!x1")
    other = DeviceFactory(site=tenant_a.site, agent_connection="b", agent_channel="specific.0123abcd!x2")
    assert telemetry.release_devices_held_through(channel_prefix="specific.0123ab!") == 1
    mine.refresh_from_db()
    other.refresh_from_db()
    assert (mine.agent_connection, mine.agent_channel) == ("", "")
    assert (other.agent_connection, other.agent_channel) == ("b", "specific.0123abcd!x2")
    with pytest.raises(ValueError):
        telemetry.release_devices_held_through(channel_prefix="")  # never every device at once


def test_concurrent_hellos_are_written_together(tenant_a, monkeypatch):
    devices = [tenant_a.device, *DeviceFactory.create_batch(39, site=tenant_a.site, status=DeviceStatus.OFFLINE)]
    batches: list[int] = []
    greet_all = hello_writer.greet_all

    def counted(hellos, **options):
        batches.append(len(hellos))
        return greet_all(hellos, **options)
    monkeypatch.setattr(hello_writer, "greet_all", counted)

    async def say_hellos():
        writer = HelloWriter()
        futures = [writer.greet(AgentHello(device_id=device.pk, connection_id=f"c{device.pk}"))
                   for device in devices]
        futures.append(writer.greet(AgentHello(device_id=987654, connection_id="gone")))
        return await asyncio.wait_for(asyncio.gather(*futures), 20)

    greetings = asyncio.run(say_hellos())
    assert greetings[-1] is None and all(g is not None and g.cancels == [] for g in greetings[:-1])
    assert sum(batches) == 41 and len(batches) < 41  # queued while a batch was written: written together
    assert set(Device.objects.filter(pk__in=[d.pk for d in devices]).values_list("status", flat=True)) == {"online"}


def test_a_failed_batch_fails_each_hello_in_it(tenant_a, monkeypatch):
    def broken(hellos, **options):
        raise RuntimeError("database went away")
    monkeypatch.setattr(hello_writer, "greet_all", broken)

    async def say_hello():
        return await asyncio.wait_for(HelloWriter().greet(AgentHello(device_id=tenant_a.device.pk,
                                                                     connection_id="c")), 10)
    with pytest.raises(RuntimeError, match="went away"):
        asyncio.run(say_hello())


def test_a_greeting_carries_the_actions_waiting_for_a_socket_that_takes_them(tenant_a, monkeypatch):
    """One trip for the hello and the first deliveries; a socket that takes no actions is sent none, and a
    delivery that fails leaves the hellos written (each socket then asks for its actions itself)."""
    takes, declines = tenant_a.device, DeviceFactory(site=tenant_a.site)
    actor = system_actor("hello test")
    waiting = {device.pk: queue_action(actor=actor, device=device, spec=reboot_spec(actor=actor))
               for device in (takes, declines)}

    async def say_hellos(writer):
        return await asyncio.wait_for(asyncio.gather(
            writer.greet(AgentHello(device_id=takes.pk, connection_id="t"), takes_actions=True),
            writer.greet(AgentHello(device_id=declines.pk, connection_id="d"))), 20)

    taking, declining = asyncio.run(say_hellos(HelloWriter()))
    assert [frame["envelope"]["action_id"] for frame in taking.deliveries] == [waiting[takes.pk].pk]
    assert declining.deliveries is None
    statuses = dict(Action.objects.values_list("device_id", "status"))
    assert statuses == {takes.pk: ActionStatus.SENT, declines.pk: ActionStatus.QUEUED}

    def broken(requests):
        raise RuntimeError("database went away")
    monkeypatch.setattr(hello_writer, "deliver_many", broken)
    Device.objects.filter(pk=takes.pk).update(status=DeviceStatus.OFFLINE)
    taking, _ = asyncio.run(say_hellos(HelloWriter()))
    assert taking is not None and taking.deliveries is None
    assert Device.objects.get(pk=takes.pk).status == DeviceStatus.ONLINE
