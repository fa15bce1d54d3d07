"""A populated fleet is backed up while it runs, restored into an empty data directory (and, on PostgreSQL, an
empty database), and the agent that knew the old server reconnects to the restored one and runs its signed
actions: the database, the secrets key and the signing key all came back. A wrong passphrase, a changed byte,
a cut-off file and a restore over a live fleet are refused with a clear message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

from realtime.server import daphne_command
from tests.live import REPO, free_port, wait_for

PASSPHRASE = "correct horse battery staple"

SETUP = """
from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token
from portal.tenancy.services import create_company, create_site
from connectors.services import create_connector
actor = system_actor("setup")
company = create_company(actor=actor, name="Restored Corp")
site = create_site(actor=actor, company=company, name="Head office")
create_connector(actor=actor, name="Pulseway", base_url="https://api.pulseway.example", token_secret="s3cret-value",
                 token_id="ops")
print(create_enrollment_token(actor=actor, site=site, name="backup test", max_uses=1).plaintext)
"""

QUEUE = """
from portal.access import system_actor
from portal.actions.requests import queue_action
from portal.actions.specs import script_spec
from portal.inventory.models import Device
actor = system_actor("technician")
device = Device.objects.get()
spec = script_spec(actor=actor, inline_content="echo restored-and-trusted", inline_language="bash")
print(queue_action(actor=actor, device=device, spec=spec).pk)
"""

READ = """
import sys
from connectors.models import Connector
from portal.actions.models import Action
from portal.inventory.models import Device
device = Device.objects.get()
action = Action.objects.filter(pk=int(sys.argv[1])).first() if len(sys.argv) > 1 else None
print("|".join([Connector.objects.get().token_secret, device.status, device.company.name,
                action.status if action else "-", (action.stdout if action else "").strip() or "-"]))
"""


class Server:
    """One fleet: a data directory (and database), commands run against it, a daphne at a fixed port."""

    def __init__(self, *, data_dir: Path, database_url: str | None, port: int) -> None:
        self.env = {**os.environ, "FLEETWATCH_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "portal.settings",
                    "FLEETWATCH_HEARTBEAT_SECONDS": "1", "FLEETWATCH_CHANNEL_PREFIX": f"backup{uuid.uuid4().hex[:8]}"}
        self.env.pop("DATABASE_URL", None)
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.daphne: subprocess.Popen | None = None
        self.log = data_dir.parent / f"{data_dir.name}-daphne.log"

    def manage(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "manage.py", *arguments], cwd=REPO, env=self.env, capture_output=True,
                              text=True, timeout=180)
        assert not check or done.returncode == 0, done.stdout + done.stderr
        return done

    def python(self, code: str, *arguments: str) -> str:
        script = "import django; django.setup()\n" + code
        done = subprocess.run([sys.executable, "-c", script, *arguments], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def start(self) -> None:
        self.daphne = subprocess.Popen(daphne_command(host="127.0.0.1", port=self.port), cwd=REPO, env=self.env,
                                       stdout=subprocess.DEVNULL, stderr=self.log.open("w"))

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/api/health/", timeout=10):
                    return True
            except OSError:
                return False

        wait_for(answers, timeout=30, what="daphne to answer")

    def stop(self) -> None:
        if self.daphne is not None and self.daphne.poll() is None:
            self.daphne.terminate()
            self.daphne.wait(timeout=15)


def _refused(server: Server, backup: Path, passphrase_file: Path) -> str:
    done = server.manage("restore", str(backup), "--passphrase-file", str(passphrase_file), check=False)
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_a_restored_server_is_the_same_fleet_to_its_agent(tmp_path, scratch_database):
    port = free_port()
    original = Server(data_dir=tmp_path / "original", database_url=scratch_database(), port=port)
    restored = Server(data_dir=tmp_path / "restored", database_url=scratch_database(), port=port)
    original.manage("migrate", "-v0")
    token = original.python(SETUP)
    config = tmp_path / "agent.toml"
    config.write_text(f'state_dir = "{tmp_path / "agent-state"}"\nbackoff_initial = 0.3\nbackoff_max = 1.0\n'
                      "collect_updates = false\ncollect_software = false\n")
    agent = None
    try:
        original.start()
        enrolled = subprocess.run([sys.executable, "-m", "fleetwatch_agent", "--config", str(config), "enroll",
                                   "--server", original.url, "--token", token], cwd=REPO, capture_output=True,
                                  text=True, timeout=60)
        assert enrolled.returncode == 0, enrolled.stderr
        agent = subprocess.Popen([sys.executable, "-m", "fleetwatch_agent", "--config", str(config), "run"],
                                 cwd=REPO, stdout=(tmp_path / "agent.log").open("w"), stderr=subprocess.STDOUT)
        wait_for(lambda: original.python(READ).split("|")[1] == "online", timeout=30, what="the agent online")

        passphrase_file = tmp_path / "passphrase"
        passphrase_file.write_text(PASSPHRASE + "\n")
        backup = tmp_path / "fleet.fwbackup"
        written = original.manage("backup", "--output", str(backup), "--passphrase-file", str(passphrase_file))
        assert "Backup written" in written.stdout and oct(backup.stat().st_mode & 0o777) == "0o600"
        sealed = backup.read_bytes()
        assert b"s3cret-value" not in sealed and b"Restored Corp" not in sealed and b"PRIVATE KEY" not in sealed
        original.stop()

        # Refusals first: each leaves the empty server empty.
        wrong = tmp_path / "wrong"
        wrong.write_text("not the right passphrase\n")
        assert "Wrong passphrase" in _refused(restored, backup, wrong)
        changed = tmp_path / "changed.fwbackup"
        flipped = bytearray(sealed)
        flipped[len(flipped) // 2] ^= 0x01
        changed.write_bytes(bytes(flipped))
        assert "changed" in _refused(restored, changed, passphrase_file)
        cut = tmp_path / "cut.fwbackup"
        cut.write_bytes(sealed[:-100])
        assert "cut short" in _refused(restored, cut, passphrase_file)

        done = restored.manage("restore", str(backup), "--passphrase-file", str(passphrase_file))
        assert "Restored the backup" in done.stdout
        for name in ("secret_key", "secrets_key", "action-signing.key"):
            assert (tmp_path / "restored" / name).read_text().strip() == \
                (tmp_path / "original" / name).read_text().strip()
        assert "already holds a fleet" in _refused(restored, backup, passphrase_file)

        # The restored server, at the same address: an action queued while the agent is away is signed with
        # the restored key, and the agent (which pinned the original key) runs it once it reconnects.
        action_id = restored.python(QUEUE)
        restored.start()
        wait_for(lambda: restored.python(READ, action_id).split("|")[3] == "succeeded", timeout=60,
                 what="the agent to run the restored server's action")
        secret, status, company, _, output = restored.python(READ, action_id).split("|")
        assert (secret, status, company, output) == ("s3cret-value", "online", "Restored Corp", "restored-and-trusted")
    finally:
        if agent is not None and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=15)
        original.stop()
        restored.stop()
        log = tmp_path / "agent.log"
        print(log.read_text(errors="replace")[-5000:] if log.exists() else "")
