"""The settings switch: embedded by default, PostgreSQL + Redis when their URLs are set (CI runs both)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parent.parent


def test_database_follows_database_url(db):
    if os.environ.get("DATABASE_URL"):
        assert connection.vendor == "postgresql"
    else:
        assert connection.vendor == "sqlite"
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA foreign_keys")
            assert cursor.fetchone()[0] == 1


def test_channel_layer_and_broker_follow_redis_url():
    layer = get_channel_layer()
    if os.environ.get("REDIS_URL"):
        assert type(layer).__name__ == "FleetRedisChannelLayer"
        assert settings.Q_CLUSTER["redis"] == os.environ["REDIS_URL"]
        assert "orm" not in settings.Q_CLUSTER
    else:
        assert type(layer).__name__ == "PeerChannelLayer"
        assert settings.Q_CLUSTER["orm"] == "default"
    # The ORM broker re-delivers after ``retry``; it must not fire while a task may still run.
    assert settings.Q_CLUSTER["retry"] > settings.Q_CLUSTER["timeout"]


def _settings_in_fresh_process(data_dir: Path, **env: str) -> dict[str, str]:
    code = ("import json; from django.conf import settings as s; "
            "print(json.dumps({'secret': s.SECRET_KEY, 'keys': s.FLEETWATCH_SECRETS_KEYS, 'debug': s.DEBUG, "
            "'hosts': s.ALLOWED_HOSTS, 'csrf': s.CSRF_TRUSTED_ORIGINS, 'db': str(s.DATABASES['default']['NAME'])}))")
    clean = {k: v for k, v in os.environ.items()
             if k not in {"SECRET_KEY", "FLEETWATCH_SECRETS_KEYS", "DEBUG", "DATABASE_URL", "ALLOWED_HOSTS"}}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", "FLEETWATCH_DATA_DIR": str(data_dir), **env},
    )
    import json

    return json.loads(result.stdout)


def test_keys_are_generated_once_into_the_data_directory(tmp_path):
    first = _settings_in_fresh_process(tmp_path)
    second = _settings_in_fresh_process(tmp_path)
    assert first["secret"] == second["secret"] and len(first["secret"]) >= 50
    assert first["keys"] == second["keys"]
    for name in ("secret_key", "secrets_key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert first["db"] == str(tmp_path / "fleetwatch.sqlite3")
    assert first["debug"] is False
    other = _settings_in_fresh_process(tmp_path / "elsewhere")
    assert other["secret"] != first["secret"]
    assert first["secret"] not in (REPO / "portal" / "settings.py").read_text()


def test_environment_overrides(tmp_path):
    values = _settings_in_fresh_process(
        tmp_path, SECRET_KEY="k" * 60, DEBUG="true", ALLOWED_HOSTS="rmm.example.com, 10.0.0.5",
        CSRF_TRUSTED_ORIGINS="https://rmm.example.com",
    )
    assert values["secret"] == "k" * 60
    assert values["debug"] is True
    assert values["hosts"] == ["rmm.example.com", "10.0.0.5"]
    assert values["csrf"] == ["https://rmm.example.com"]
    assert not (tmp_path / "secret_key").exists()


def _database_settings(**env: str) -> str:
    code = ("import django, json; django.setup(); from django.conf import settings; "
            "d = settings.DATABASES['default']; print(json.dumps([d['CONN_MAX_AGE'], d.get('OPTIONS', {})]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", **env})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_postgresql_connections_come_from_one_bounded_pool_per_process():
    url = "postgres://fleetwatch@db.invalid:5432/fleetwatch"
    assert _database_settings(DATABASE_URL=url) == \
        '[0, {"pool": {"min_size": 1, "max_size": 12, "timeout": 30}}]'
    assert _database_settings(DATABASE_URL=url, FLEETWATCH_DB_POOL_SIZE="4") == \
        '[0, {"pool": {"min_size": 1, "max_size": 4, "timeout": 30}}]'
    assert _database_settings(DATABASE_URL=url, FLEETWATCH_DB_POOL_SIZE="0") == "[0, {}]"  # behind PgBouncer


def test_processes_creating_a_key_at_once_all_read_the_same_whole_key(tmp_path):
    """run_fleet starts its web processes together, and each makes the signing key on first use: none may read
    a key file another is still writing (one enrollment in 5,000 failed that way)."""
    import subprocess
    import sys

    script = ("import secrets, sys, time; from pathlib import Path; from portal.keyfiles import "
              "read_or_create_key_file\ndef slow():\n    time.sleep(0.05)\n    return secrets.token_hex(2000)\n"
              "print(read_or_create_key_file(path=Path(sys.argv[1]), generate=slow))")
    target = tmp_path / "shared.key"
    processes = [subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True)
                 for _ in range(8)]
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert len(keys) == 1 and len(keys.pop()) == 4000  # one process's key, whole, read by all
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert [path.name for path in tmp_path.iterdir()] == ["shared.key"]  # no temporary file left behind
