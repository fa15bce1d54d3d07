"""File operations of a files session: list a folder, read a file out, write one in (checked against the
size and SHA-256 the signed request names before it replaces anything), delete, rename, make a folder."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import psutil

MAX_ENTRIES = 5000


class FileError(Exception):
    """An operation that cannot be done; the message goes back to the technician."""


def checked_path(raw: str) -> str:
    """An absolute, normalised path (relative paths mean nothing on a remote machine)."""
    if not raw or "\x00" in raw:
        raise FileError("Give a path.")
    if not os.path.isabs(raw):
        raise FileError(f"{raw!r} is not an absolute path.")
    return os.path.normpath(raw)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def _roots() -> dict[str, Any]:
    """Where browsing starts: the drives on Windows, the file system's root elsewhere."""
    if sys.platform == "win32":
        drives = sorted({partition.mountpoint for partition in psutil.disk_partitions(all=False)})
        return {"path": "", "parent": None, "truncated": False,
                "entries": [{"name": drive, "path": drive, "type": "dir", "size": None, "modified": None,
                             "mode": ""} for drive in drives]}
    return list_folder("/")


def list_folder(raw: str) -> dict[str, Any]:
    if not raw:
        return _roots()
    path = checked_path(raw)
    entries = []
    try:
        with os.scandir(path) as found:
            for entry in found:
                if len(entries) >= MAX_ENTRIES:
                    break
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                kind = _kind(info.st_mode)
                if kind == "link":
                    with contextlib.suppress(OSError):
                        kind = "dir" if entry.is_dir(follow_symlinks=True) else "link"
                entries.append({"name": entry.name, "path": os.path.join(path, entry.name), "type": kind,
                                "size": info.st_size if kind == "file" else None, "modified": int(info.st_mtime),
                                "mode": stat.filemode(info.st_mode)})
    except FileNotFoundError as error:
        raise FileError(f"{path} does not exist.") from error
    except NotADirectoryError as error:
        raise FileError(f"{path} is not a folder.") from error
    except PermissionError as error:
        raise FileError(f"The agent may not read {path}.") from error
    entries.sort(key=lambda entry: (entry["type"] != "dir", entry["name"].lower()))
    parent = os.path.dirname(path)
    return {"path": path, "parent": parent if parent != path else ("" if sys.platform == "win32" else None),
            "entries": entries, "truncated": len(entries) >= MAX_ENTRIES}


def open_download(raw: str, *, max_bytes: int) -> tuple[BinaryIO, int]:
    path = checked_path(raw)
    try:
        handle = open(path, "rb")  # noqa: SIM115 (read in chunks by the session, closed there)
    except IsADirectoryError as error:
        raise FileError(f"{path} is a folder; download files one by one.") from error
    except FileNotFoundError as error:
        raise FileError(f"{path} does not exist.") from error
    except PermissionError as error:
        raise FileError(f"The agent may not read {path}.") from error
    size = os.fstat(handle.fileno()).st_size
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise FileError(f"{path} is not a regular file.")
    if max_bytes and size > max_bytes:
        handle.close()
        raise FileError(f"{path} is {size:,} bytes; the server accepts at most {max_bytes:,}.")
    return handle, size


@dataclass
class Upload:
    """A file on its way in: written beside its destination, put in place only once it checks out."""

    path: str
    size: int
    sha256: str
    temporary: Path
    handle: BinaryIO
    received: int = 0
    digest: Any = field(default_factory=hashlib.sha256)

    def add(self, data: bytes) -> None:
        if self.received + len(data) > self.size:
            raise FileError(f"More than the announced {self.size:,} bytes arrived.")
        self.handle.write(data)
        self.digest.update(data)
        self.received += len(data)

    @property
    def complete(self) -> bool:
        return self.received == self.size

    def finish(self) -> str:
        """Check the size and SHA-256 and put the file in place; returns the SHA-256."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        found = self.digest.hexdigest()
        if self.received != self.size or found != self.sha256:
            self.temporary.unlink(missing_ok=True)
            raise FileError(f"The file arrived damaged (SHA-256 {found}, expected {self.sha256}); nothing was "
                            "replaced.")
        try:  # a replaced file keeps its permissions; a new one is readable as files usually are
            mode = stat.S_IMODE(os.stat(self.path).st_mode)
        except FileNotFoundError:
            mode = 0o644
        os.chmod(self.temporary, mode)
        os.replace(self.temporary, self.path)
        return found

    def abandon(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        self.temporary.unlink(missing_ok=True)


def start_upload(raw: str, *, size: int, sha256: str, max_bytes: int) -> Upload:
    path = checked_path(raw)
    if max_bytes and size > max_bytes:
        raise FileError(f"The file is {size:,} bytes; the server accepts at most {max_bytes:,}.")
    if os.path.isdir(path):
        raise FileError(f"{path} is a folder; name the file to write.")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FileError(f"The folder {folder} does not exist.")
    temporary = Path(folder) / f".fleetwatch-upload-{secrets.token_hex(6)}"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except PermissionError as error:
        raise FileError(f"The agent may not write in {folder}.") from error
    return Upload(path=path, size=size, sha256=sha256, temporary=temporary, handle=os.fdopen(descriptor, "wb"))


def delete(raw: str) -> dict[str, Any]:
    path = checked_path(raw)
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        else:
            os.unlink(path)
    except FileNotFoundError as error:
        raise FileError(f"{path} does not exist.") from error
    except OSError as error:
        if os.path.isdir(path):
            raise FileError(f"{path} is not empty; delete what is in it first.") from error
        raise FileError(f"{path} could not be deleted: {error.strerror}.") from error
    return {"path": path}


def rename(raw: str, to: str) -> dict[str, Any]:
    path, target = checked_path(raw), checked_path(to)
    if os.path.lexists(target):
        raise FileError(f"{target} exists already.")
    try:
        os.rename(path, target)
    except OSError as error:
        raise FileError(f"{path} could not be renamed: {error.strerror}.") from error
    return {"path": path, "to": target}


def make_folder(raw: str) -> dict[str, Any]:
    path = checked_path(raw)
    try:
        os.mkdir(path, 0o755)
    except FileExistsError as error:
        raise FileError(f"{path} exists already.") from error
    except OSError as error:
        raise FileError(f"{path} could not be made: {error.strerror}.") from error
    return {"path": path}
