"""``manage.py backup`` and ``restore``: the database and the key files in one encrypted archive.

Without its keys a database is of little use (vendor credentials are encrypted with the secrets key, and
every agent trusts only actions signed by the signing key), and the keys without a passphrase must not sit
in a backup store: so both go into one file, sealed with a passphrase (portal/operations/archive.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from portal.actions import signing
from portal.datafiles import protect_directory
from portal.operations import databases
from portal.operations.archive import DecryptingReader, EncryptingWriter

FORMAT = 1
MANIFEST = "manifest.json"
KEY_MEMBERS = {  # archive member → file in the data directory
    "keys/secret_key": "secret_key",
    "keys/secrets_key": "secrets_key",
    "keys/action-signing.key": "action-signing.key",
    "keys/action-signing.key.previous": "action-signing.key.previous",
}


class RestoreRefused(Exception):
    """The restore would overwrite a fleet, or the backup does not fit this server."""


@dataclass(frozen=True)
class BackupWritten:
    path: Path
    size: int
    sha256: str
    database: str
    members: list[str]
    seconds: float


@dataclass(frozen=True)
class BackupRestored:
    created_at: str
    version: str
    database: str
    keys: list[str]
    keys_in_environment: list[str]


def _key_texts() -> dict[str, str]:
    """The keys this server runs with, whether read from the data directory or the environment."""
    texts = {"keys/secret_key": settings.SECRET_KEY, "keys/secrets_key": ",".join(settings.FLEETWATCH_SECRETS_KEYS)}
    signing_key_file = Path(settings.FLEETWATCH_ACTION_SIGNING_KEY)
    for member, path in (("keys/action-signing.key", signing_key_file),
                         ("keys/action-signing.key.previous",
                          signing_key_file.with_name(signing_key_file.name + ".previous"))):
        if path.exists():
            texts[member] = path.read_text(encoding="utf-8").strip()
    return texts


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    archive.addfile(info, fileobj=_BytesReader(data))


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk, self.offset = self.data[self.offset:end], min(end, len(self.data))
        return chunk


def write_backup(*, output: Path, passphrase: str) -> BackupWritten:
    """Copy the live database (the server keeps running) and the keys into ``output``, sealed."""
    started = time.monotonic()
    signing.signing_key()  # a server that never signed an action has no key file yet: make it now, and back it up
    output.parent.mkdir(parents=True, exist_ok=True)
    applied = {app: name for app, name in MigrationRecorder.Migration.objects.values_list("app", "name")}
    keys = _key_texts()
    manifest = {"format": FORMAT, "version": settings.FLEETWATCH_VERSION, "created_at": timezone.now().isoformat(),
                "database": databases.vendor(), "members": [databases.member_name(), *keys],
                "migrations": applied}
    partial = output.with_name(f".{output.name}.partial")
    # The plain dump waits in a private directory beside the database (same protection) until it is sealed.
    with tempfile.TemporaryDirectory(dir=settings.DATA_DIR, prefix=".backup-") as work:
        dump_file = Path(work) / databases.member_name()
        databases.dump(into=dump_file)
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as sealed_file:
            writer = EncryptingWriter(sealed_file, passphrase=passphrase)
            with tarfile.open(fileobj=writer, mode="w|") as archive:
                _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
                archive.add(dump_file, arcname=databases.member_name())
                for member, text in keys.items():
                    _add_bytes(archive, member, text.encode() + b"\n")
            writer.close()
            sealed_file.flush()
            os.fsync(sealed_file.fileno())
    os.replace(partial, output)
    digest = hashlib.sha256()
    with output.open("rb") as written:
        for block in iter(lambda: written.read(1024 * 1024), b""):
            digest.update(block)
    return BackupWritten(path=output, size=output.stat().st_size, sha256=digest.hexdigest(),
                         database=databases.vendor(), members=manifest["members"],
                         seconds=time.monotonic() - started)


def restore_backup(*, source: Path, passphrase: str) -> BackupRestored:
    """Fill an empty data directory (and, on PostgreSQL, an empty database) from a backup.

    Only the members a backup has are read, each to its one place: names in the archive choose nothing."""
    if not databases.is_empty():
        raise RestoreRefused("This server already holds a fleet (its database has migrations). Restore into an "
                             "empty data directory and an empty database, then point the server at them.")
    protect_directory(settings.DATA_DIR)
    with source.open("rb") as sealed_file, tempfile.TemporaryDirectory(dir=settings.DATA_DIR,
                                                                       prefix=".restore-") as work:
        reader = DecryptingReader(sealed_file, passphrase=passphrase)
        manifest: dict | None = None
        keys: dict[str, bytes] = {}
        dump_file: Path | None = None
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                content = archive.extractfile(member)
                if member.name == MANIFEST:
                    manifest = json.loads(content.read(1024 * 1024))
                    _check_manifest(manifest)
                elif member.name in (databases.SQLITE_MEMBER, databases.POSTGRES_MEMBER):
                    if manifest is None or member.name != databases.member_name():
                        raise RestoreRefused(_vendor_mismatch(manifest))
                    dump_file = Path(work) / member.name
                    with dump_file.open("wb") as plain:
                        shutil.copyfileobj(content, plain, 1024 * 1024)
                elif member.name in KEY_MEMBERS:
                    keys[member.name] = content.read(64 * 1024)
        if manifest is None or dump_file is None or "keys/secrets_key" not in keys:
            raise RestoreRefused("The backup is incomplete (no manifest, database or keys).")
        databases.load(dump_file=dump_file)
    for member, data in keys.items():
        _write_key(settings.DATA_DIR / KEY_MEMBERS[member], data)
    in_environment = [name for name in ("SECRET_KEY", "FLEETWATCH_SECRETS_KEYS") if os.environ.get(name)]
    return BackupRestored(created_at=manifest["created_at"], version=manifest["version"],
                          database=manifest["database"], keys=sorted(KEY_MEMBERS[m] for m in keys),
                          keys_in_environment=in_environment)


def _check_manifest(manifest: dict) -> None:
    if manifest.get("format") != FORMAT:
        raise RestoreRefused(f"This backup's format ({manifest.get('format')}) is not one this version reads.")
    if manifest.get("database") != databases.vendor():
        raise RestoreRefused(_vendor_mismatch(manifest))


def _vendor_mismatch(manifest: dict | None) -> str:
    taken = (manifest or {}).get("database", "another database")
    return (f"This backup was taken from {taken}; this server runs on {databases.vendor()}. Restore it with the "
            "same kind of database (DATABASE_URL set or unset as when it was taken).")


def _write_key(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.restore")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as key_file:
        key_file.write(data)
        key_file.flush()
        os.fsync(key_file.fileno())
    os.replace(temporary, path)
