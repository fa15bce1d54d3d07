"""``manage.py deploy_config``: the units pass ``systemd-analyze verify``, the nginx site passes ``nginx -t``, the
Caddyfile passes ``caddy validate``, values that could inject configuration are refused, and the units' own
command lines bring up a fleet here: migrations, the web processes, the task cluster, this server's agent
enrolled and online, and a backup."""

from __future__ import annotations

import datetime
import getpass
import os
import shlex
import subprocess
import sys
import time
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.management import CommandError, call_command

from tests.live import REPO, free_port, wait_for

UNITS = ["fleetwatch-web.service", "fleetwatch-worker.service", "fleetwatch-agent.service",
         "fleetwatch-backup.service", "fleetwatch-backup.timer"]


def _self_signed(directory: Path, domain: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    certificate_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return certificate_path, key_path


def _deploy(tmp_path: Path, *extra: str) -> Path:
    output = tmp_path / "deploy"
    call_command("deploy_config", "--domain", "rmm.example.com", "--output", str(output), *extra, stdout=StringIO())
    return output


def test_units_verify_and_proxy_sites_validate(tmp_path):
    certificate, key = _self_signed(tmp_path, "rmm.example.com")
    output = _deploy(tmp_path, "--certificate", str(certificate), "--certificate-key", str(key))
    assert oct((output / "fleetwatch.env").stat().st_mode & 0o777) == "0o600"
    for unit in UNITS:
        verified = subprocess.run(["systemd-analyze", "verify", str(output / unit)], capture_output=True, text=True)
        assert verified.returncode == 0 and verified.stdout + verified.stderr == "", (unit, verified.stderr)
    web = (output / "fleetwatch-web.service").read_text()
    assert "ExecStartPre=" in web and "manage.py upgrade" in web and "LimitNOFILE=65536" in web

    nginx_conf = tmp_path / "nginx.conf"
    nginx_conf.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
                          f"http {{\n access_log off;\n include {output}/nginx-fleetwatch.conf;\n}}\n")
    tested = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(nginx_conf), "-e",
                             str(tmp_path / "error.log")], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stderr
    site = (output / "nginx-fleetwatch.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in site  # replaced, so a client cannot choose it
    assert "proxy_read_timeout 1h;" in site and "Upgrade $http_upgrade" in site

    home = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config")}
    validated = subprocess.run(["caddy", "validate", "--config", str(output / "Caddyfile"), "--adapter", "caddyfile"],
                               capture_output=True, text=True, env=home, timeout=60)
    assert validated.returncode == 0, validated.stderr[-2000:]


@pytest.mark.parametrize("option, value", [
    ("--domain", "rmm.example.com;\n    location / { proxy_pass http://evil; }"),
    ("--domain", "rmm.example.com evil.example.com"),
    ("--domain", "localhost"),
    ("--data-dir", "/var/lib/fleetwatch\nExecStartPost=/bin/sh -c id"),
    ("--data-dir", "relative/dir"),
    ("--certificate", "/etc/ssl/a cert.pem"),
    ("--user", "root;id"),
])
def test_values_that_could_write_configuration_are_refused(tmp_path, option, value):
    arguments = ["--domain", "rmm.example.com", "--output", str(tmp_path / "out")]
    if option == "--domain":
        arguments[1] = value
    else:
        arguments += [option, value]
    with pytest.raises(CommandError):
        call_command("deploy_config", *arguments, stdout=StringIO())
    assert not (tmp_path / "out").exists()


def _command_lines(unit: Path, key: str, number: int = 0) -> list[str]:
    """An Exec line as systemd runs it (the ``number``-th of that key): split like a shell, ``%%`` meaning ``%``."""
    line = [line for line in unit.read_text().splitlines() if line.startswith(f"{key}=")][number]
    return shlex.split(line.split("=", 1)[1].replace("%%", "%"))


def _environment(env_file: Path) -> dict[str, str]:
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                  if line and not line.startswith("#"))
    return {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")} | values


def test_the_units_command_lines_bring_up_a_fleet(tmp_path, scratch_database):
    port = free_port()
    etc = tmp_path / "etc"
    output = _deploy(tmp_path, "--data-dir", str(tmp_path / "data"), "--env-file", str(etc / "fleetwatch.env"),
                     "--port", str(port), "--web-processes", "2", "--user", getpass.getuser(),
                     "--backup-dir", str(tmp_path / "backups"))
    # The settings file and the agent's, installed where the units look for them (as the README says).
    etc.mkdir()
    (etc / "fleetwatch.env").write_text((output / "fleetwatch.env").read_text())
    agent_toml = (output / "fleetwatch-agent.toml").read_text().replace("/var/lib/fleetwatch-agent",
                                                                        str(tmp_path / "agent-state"))
    database_url = scratch_database()
    env = _environment(etc / "fleetwatch.env")
    if database_url:
        env |= {"DATABASE_URL": database_url, "REDIS_URL": os.environ["REDIS_URL"],
                "FLEETWATCH_CHANNEL_PREFIX": f"deploy{port}"}
    (tmp_path / "backups").mkdir()
    (etc / "backup-passphrase").write_text("a passphrase only this test knows\n")

    def run(unit: str, key: str, number: int = 0) -> subprocess.CompletedProcess:
        command = [part.replace("/etc/fleetwatch-agent/agent.toml", str(tmp_path / "agent.toml"))
                   for part in _command_lines(output / unit, key, number)]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)

    (tmp_path / "agent.toml").write_text(agent_toml)
    upgraded = run("fleetwatch-web.service", "ExecStartPre")
    assert upgraded.returncode == 0 and "migration(s) applied" in upgraded.stdout, upgraded.stderr
    processes = []
    try:
        web = _command_lines(output / "fleetwatch-web.service", "ExecStart")
        processes.append(subprocess.Popen(web, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                          stderr=(tmp_path / "web.log").open("w")))

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/", timeout=5) as answer:
                    return answer.status == 200
            except OSError:
                return False

        wait_for(healthy, timeout=60, what="the web unit to answer")
        again = run("fleetwatch-worker.service", "ExecStartPre")
        assert again.returncode == 0 and "0 migration(s) applied" in again.stdout, again.stderr
        worker = subprocess.Popen(_command_lines(output / "fleetwatch-worker.service", "ExecStart"), cwd=REPO,
                                  env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "worker.log").open("w"))
        processes.append(worker)

        enrolled = run("fleetwatch-agent.service", "ExecStartPre")
        assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
        agent_command = [part.replace("/etc/fleetwatch-agent/agent.toml", str(tmp_path / "agent.toml"))
                         for part in _command_lines(output / "fleetwatch-agent.service", "ExecStart")]
        processes.append(subprocess.Popen(agent_command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        status = [sys.executable, "-c", "import django; django.setup()\nfrom portal.inventory.models import Device\n"
                  "print(Device.objects.get(company__name='Local machine').status)"]
        wait_for(lambda: subprocess.run(status, cwd=REPO, env=env, capture_output=True, text=True).stdout.strip()
                 == "online", timeout=60, what="this server's agent online")
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]

        backed_up = run("fleetwatch-backup.service", "ExecStart")
        assert backed_up.returncode == 0, backed_up.stderr
        assert len(list((tmp_path / "backups").glob("fleetwatch-*.fwbackup"))) == 1
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        time.sleep(0.2)
        print((tmp_path / "web.log").read_text(errors="replace")[-5000:] if (tmp_path / "web.log").exists() else "")


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    output = _deploy(tmp_path, "--data-dir", str(tmp_path / "data"))
    env = _environment(output / "fleetwatch.env")
    checked = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout
