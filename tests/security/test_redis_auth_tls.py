"""What the README's scale-out section says works: a Redis that asks for a password and speaks only TLS
(``rediss://:password@host:port/0?ssl_ca_certs=…``) carries the cache, the channel layer and the task
broker. A real redis-server with TLS and a password, on a spare port."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels_redis.core import RedisChannelLayer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from portal.cache import FleetRedisCache

PASSWORD = "redis-pass-7f3a"


def _certificate(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "redis.crt", tmp / "redis.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_redis(tmp_path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (apt-get install redis-server; CI installs it)"
    cert, key = _certificate(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                               "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                               "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
                               "--requirepass", PASSWORD, "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"rediss://:{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    finally:
        server.terminate()
        server.wait(10)


def test_cache_channel_layer_and_broker_over_tls_with_a_password(tls_redis):
    cache = FleetRedisCache(tls_redis, {"OPTIONS": {"serializer": "portal.cache.JsonSerializer"}})
    cache.set("fleetwatch-tls", {"ok": True}, 30)
    assert cache.get("fleetwatch-tls") == {"ok": True}

    layer = RedisChannelLayer(hosts=[{"address": tls_redis, "socket_timeout": None, "max_connections": 10}],
                              prefix="fleetwatch-tls")

    async def round_trip() -> dict:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.ping"})
        return await layer.receive(channel)

    assert async_to_sync(round_trip)()["type"] == "health.ping"

    from django_q.brokers.redis_broker import Redis as RedisBroker
    from django_q.conf import Conf

    saved = Conf.REDIS
    Conf.REDIS = tls_redis
    try:
        broker = RedisBroker(list_key="fleetwatch-tls")
        broker.enqueue("task")
        assert broker.queue_size() == 1
        broker.purge_queue()
    finally:
        Conf.REDIS = saved


def test_a_wrong_password_is_refused(tls_redis):
    import redis

    wrong = tls_redis.replace(PASSWORD, "guess")
    with pytest.raises(redis.exceptions.AuthenticationError):
        FleetRedisCache(wrong, {}).get("anything")
