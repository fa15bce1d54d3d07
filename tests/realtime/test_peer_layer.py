"""Embedded mode's channel layer carries a message sent to a specific channel to the process that holds it
(a terminal's browser and its agent may sit on different daphne processes), bytes included, and drops what
is sent to a process that has gone instead of failing the sender."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest

from realtime.peer_layer import PeerChannelLayer, peers_directory
from tests.live import REPO

OTHER_PROCESS = textwrap.dedent("""
    import asyncio, json, sys
    from realtime.peer_layer import PeerChannelLayer

    async def main():
        layer = PeerChannelLayer(peers_dir=sys.argv[1])
        channel = await layer.new_channel()
        print(json.dumps({"channel": channel}), flush=True)
        for _ in range(2):
            message = await layer.receive(channel)
            await layer.send(message["reply_to"], {"type": "echo", "data": message["data"][::-1],
                                                   "peer": layer.peer})
        await layer.close()

    asyncio.run(main())
""")


def test_a_message_reaches_a_channel_of_another_process_and_comes_back(tmp_path):
    peers = str(tmp_path / "peers")
    other = subprocess.Popen([sys.executable, "-c", OTHER_PROCESS, peers], cwd=REPO, stdout=subprocess.PIPE,
                             text=True)
    try:
        remote_channel = json.loads(other.stdout.readline())["channel"]

        async def exchange():
            layer = PeerChannelLayer(peers_dir=peers)
            mine = await layer.new_channel()
            answers = []
            for payload in (b"\x00\xffterminal bytes", "é" * 70_000):
                await layer.send(remote_channel, {"type": "ping", "data": payload, "reply_to": mine})
                answers.append(await asyncio.wait_for(layer.receive(mine), timeout=10))
            await layer.close()
            return layer.peer, answers

        peer, answers = asyncio.run(exchange())
        assert answers[0]["data"] == b"\x00\xffterminal bytes"[::-1]  # bytes stay bytes
        assert answers[1]["data"] == "é" * 70_000
        assert answers[0]["peer"] != peer  # answered by the other process
        assert other.wait(timeout=10) == 0
    finally:
        other.kill()


def test_a_send_to_a_gone_process_is_dropped_and_sockets_are_private(tmp_path):
    async def send_to_nobody():
        layer = PeerChannelLayer(peers_dir=str(tmp_path / "peers"))
        mine = await layer.new_channel()
        await layer.send("specific.dead0000beef!abc", {"type": "lost"})  # no such process: no error
        await layer.send(mine, {"type": "kept"})
        received = await layer.receive(mine)
        await layer.close()
        return received

    assert asyncio.run(send_to_nobody()) == {"type": "kept"}
    directory = peers_directory(str(tmp_path / "peers"))
    assert oct(directory.stat().st_mode & 0o777) == "0o700"


def test_a_data_directory_too_deep_for_a_socket_address_falls_back_to_a_private_temp_directory(tmp_path):
    deep = tmp_path / ("d" * 90) / "peers"
    directory = peers_directory(str(deep))
    assert directory != deep and len(str(directory / "0123456789abcdef.sock")) <= 100
    assert oct(directory.stat().st_mode & 0o777) == "0o700"


def test_a_malformed_link_message_closes_only_that_link(tmp_path):
    async def scenario():
        layer = PeerChannelLayer(peers_dir=str(tmp_path / "peers"))
        mine = await layer.new_channel()
        path = layer._socket_path(layer.peer)
        _, writer = await asyncio.open_unix_connection(str(path))
        writer.write(b"\x00\x00\x00\x05garbage")
        await writer.drain()
        other = PeerChannelLayer(peers_dir=str(tmp_path / "peers"))
        await other.send(mine, {"type": "still working"})
        received = await asyncio.wait_for(layer.receive(mine), timeout=5)
        await other.close()
        await layer.close()
        return received

    assert asyncio.run(scenario()) == {"type": "still working"}


@pytest.mark.parametrize("name", ["specific.not-hex!x", "specific.ZZZZ!x", "plain-channel"])
def test_channel_names_that_name_no_process_stay_local(tmp_path, name):
    async def scenario():
        layer = PeerChannelLayer(peers_dir=str(tmp_path / "peers"))
        await layer.send(name, {"type": "local"})
        return await asyncio.wait_for(layer.receive(name), timeout=5)

    assert asyncio.run(scenario()) == {"type": "local"}
