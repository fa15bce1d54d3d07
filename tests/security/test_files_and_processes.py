"""Files and processes: the data directory is the server's alone (0700, database files 0600), and a script
run as another user runs with that user's groups and login environment, not root's. Before, the database
(sessions, action output) was world-readable, and "run as" changed only the uid: the script kept root's
groups (group 0) and root's environment."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from fleetwatch_agent.actions import ActionRunner, run_as_account
from fleetwatch_agent.ledger import ActionLedger


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_is_private():
    assert _mode(Path(settings.DATA_DIR)) == 0o700


@pytest.mark.django_db
def test_sqlite_files_are_private():
    if connection.vendor != "sqlite":
        assert connection.vendor == "postgresql"  # the database is PostgreSQL's to protect in this mode
        return
    connection.ensure_connection()
    name = Path(connection.settings_dict["NAME"])
    files = [path for path in (name, Path(f"{name}-wal"), Path(f"{name}-shm")) if path.exists()]
    assert files and all(_mode(path) == 0o600 for path in files), {str(p): oct(_mode(p)) for p in files}


def _runner(tmp_path: Path) -> ActionRunner:
    return ActionRunner(ledger=ActionLedger(tmp_path), work_dir=tmp_path / "work", device_id=1,
                        pinned_key=lambda: None)


def test_run_as_takes_the_users_groups_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_ONLY_SECRET", "root-only")
    payload = {"language": "sh", "run_as": "nobody", "timeout": 30, "environment": {"GREETING": "hi"},
               "content": 'id -u; id -G; echo "$HOME|$USER|$LOGNAME|$SHELL|$PATH|$GREETING"; '
                          'echo "secret=${AGENT_ONLY_SECRET:-none}"; pwd'}
    outcome = asyncio.run(_runner(tmp_path)._run_script(7, payload))
    if os.geteuid() != 0:  # an agent not running as root refuses, clearly
        assert outcome.status == "failed" and "needs the agent to run as root" in outcome.error
        return
    account = run_as_account("nobody")
    lines = outcome.stdout.splitlines()
    assert outcome.status == "succeeded", outcome
    assert lines[0] == str(account.uid)
    assert sorted(map(int, lines[1].split())) == sorted(set(account.groups))  # not root's group 0
    assert lines[2] == f"{account.home}|nobody|nobody|{account.shell}|/usr/local/sbin:/usr/local/bin:/usr/sbin:" \
                       "/usr/bin:/sbin:/bin|hi"
    assert lines[3] == "secret=none"
    assert not lines[4].startswith(str(tmp_path))  # outside the agent's private state directory


def test_run_as_an_unknown_user_fails_clearly(tmp_path):
    outcome = asyncio.run(_runner(tmp_path)._run_script(8, {"language": "sh", "run_as": "no-such-user-x",
                                                            "content": "id", "timeout": 5}))
    assert outcome.status == "failed"
    assert "no user 'no-such-user-x'" in outcome.error or "needs the agent to run as root" in outcome.error
