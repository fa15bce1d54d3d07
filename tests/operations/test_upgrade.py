"""``manage.py upgrade`` applies migrations under a lock: a second process waits for the first instead of
racing it into half-made tables, and then finds nothing left to do."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import psycopg
import pytest

from portal.operations.migration_lock import ADVISORY_LOCK_ID, LOCK_FILE_NAME
from tests.live import REPO


@pytest.fixture
def fresh_server(tmp_path, scratch_database):
    """An environment for a fleet that has never been migrated: its own data dir (and PostgreSQL database)."""
    env = {**os.environ, "FLEETWATCH_DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "portal.settings"}
    env.pop("DATABASE_URL", None)
    database_url = scratch_database()
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _upgrade(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "upgrade"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_upgrade_waits_for_whoever_holds_the_lock(fresh_server, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    if "DATABASE_URL" in fresh_server:
        holder = psycopg.connect(fresh_server["DATABASE_URL"], autocommit=True)
        holder.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_ID])
        release = holder.close
    else:
        lock_file = (data_dir / LOCK_FILE_NAME).open("a")
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        release = lock_file.close
    waiting = _upgrade(fresh_server)
    time.sleep(6)  # long enough for an unlocked upgrade to have started creating tables
    assert waiting.poll() is None, waiting.communicate()
    release()
    out, err = waiting.communicate(timeout=180)
    assert waiting.returncode == 0, err
    assert "migration(s) applied after waiting" in out


def test_two_services_starting_together_both_come_up(fresh_server):
    first, second = _upgrade(fresh_server), _upgrade(fresh_server)
    outputs = [process.communicate(timeout=240) for process in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    applied = sorted(int(out.split(": ")[1].split(" ")[0]) for out, _ in outputs)
    assert applied[0] == 0 and applied[1] > 50  # one applied everything, the other found nothing left
    again = subprocess.run([sys.executable, "manage.py", "migrate", "--check"], cwd=REPO, env=fresh_server,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_changelog_describes_the_running_version():
    from portal import __version__

    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"\n## {__version__}\n" in changelog and "\n## Unreleased\n" in changelog
