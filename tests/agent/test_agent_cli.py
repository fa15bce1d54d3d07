"""The agent's command line: help, configuration file checks, service definitions, collect."""

import json
import subprocess
import sys

from tests.live import REPO


def _agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fleetwatch_agent", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_help_explains_the_first_steps():
    result = _agent("--help")
    assert result.returncode == 0
    for words in ("enroll --server", "install-service", "status", "collect", "--config"):
        assert words in result.stdout


def test_unknown_config_keys_are_refused(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text('state_dir = "/tmp/x"\nverify_tls = false\n')
    result = _agent("--config", str(config), "status")
    assert result.returncode != 0 and "verify_tls" in result.stderr


def test_service_definitions_for_each_platform(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n')
    unit = _agent("--config", str(config), "install-service", "--platform", "linux", "--print").stdout
    exec_start = unit.split("ExecStart=", 1)[1].splitlines()[0]
    assert "[Service]" in unit and "Restart=always" in unit
    assert f"--config {config}" in exec_start and exec_start.endswith(" run")
    plist = _agent("--config", str(config), "install-service", "--platform", "macos", "--print").stdout
    assert "<key>KeepAlive</key><true/>" in plist and "<string>run</string>" in plist
    windows = _agent("--config", str(config), "install-service", "--platform", "windows").stdout
    assert "sc.exe create FleetwatchAgent" in windows and "start= auto" in windows


def test_collect_prints_a_snapshot(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(f'state_dir = "{tmp_path}"\ncollect_updates = false\n')
    snapshot = json.loads(_agent("--config", str(config), "collect").stdout)
    assert snapshot["system"]["hostname"] and snapshot["cpu"]["cores"] >= 1
    assert snapshot["memory"]["total"] > 0 and len(snapshot["inventory_hash"]) == 64
    assert {"cpu_percent", "memory_percent"} <= set(snapshot["metrics"])


def test_status_when_not_enrolled(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(f'state_dir = "{tmp_path / "empty"}"\n')
    result = _agent("--config", str(config), "status")
    assert result.returncode == 2 and "Not enrolled" in result.stdout
