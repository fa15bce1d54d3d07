"""A shell on a pseudo-terminal: ptyprocess on Linux and macOS, pywinpty (ConPTY where Windows has it) on
Windows. Output is handed on in order as it comes and stops being read while a window's worth waits for the
browser's acknowledgement, so a slow browser slows the shell down instead of filling memory. At the end the
shell and everything it started are killed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psutil

from fleetwatch_agent.remote.wire import WINDOW

logger = logging.getLogger(__name__)
READ_SIZE = 16 * 1024
# A busy shell's output goes out in frames of up to this much: a pseudo-terminal hands over about 4 KB a
# read, and a message per read costs the server more than the bytes in it.
FRAME_SIZE = 64 * 1024
# Output that keeps coming is gathered this long into one frame; a keystroke's echo waits no longer than this.
GATHER_SECONDS = 0.005
MAX_PENDING_INPUT = 1024 * 1024
MIN_SIZE, MAX_COLS, MAX_ROWS = 2, 500, 200
Output = Callable[[bytes], Awaitable[None]]
Exited = Callable[[int | None], Awaitable[None]]


class ShellRefused(Exception):
    """The shell cannot start as asked (an unknown account, run-as without root, no such shell)."""


@dataclass(frozen=True)
class ShellCommand:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    account: object | None = None  # a RunAsAccount to switch to before the shell starts (POSIX)


def clamp_size(cols: int, rows: int) -> tuple[int, int]:
    return max(MIN_SIZE, min(MAX_COLS, int(cols))), max(MIN_SIZE, min(MAX_ROWS, int(rows)))


def shell_command(*, run_as: str, shell: str) -> ShellCommand:
    """What to start: the account's login shell (or the one asked for), in its home, with a login's environment."""
    if sys.platform == "win32":
        if run_as:
            raise ShellRefused("Running a shell as another account is not available on Windows.")
        program = "cmd.exe" if shell == "cmd" else (shutil.which("pwsh") or "powershell.exe")
        if shell not in ("", "powershell", "cmd"):
            raise ShellRefused(f"There is no {shell} on Windows.")
        return ShellCommand(argv=[program], env={**os.environ}, cwd=os.environ.get("USERPROFILE", "C:\\"))
    import pwd

    from fleetwatch_agent.actions import run_as_account  # POSIX only (pwd)

    if run_as:
        if os.geteuid() != 0:
            raise ShellRefused("The agent runs without root, so it cannot start a shell as another account.")
        try:
            account = run_as_account(run_as)
        except KeyError as missing:
            raise ShellRefused(f"There is no account {run_as!r} on this device.") from missing
    else:
        entry = pwd.getpwuid(os.geteuid())
        account = run_as_account(entry.pw_name)
    if shell in ("", "powershell", "cmd"):
        program = account.shell if account.shell and os.path.exists(account.shell) else ""
        program = program or shutil.which("bash") or "/bin/sh"
    else:
        program = shutil.which(shell) or ""
        if not program:
            raise ShellRefused(f"There is no {shell} on this device.")
    env = {**account.environment(), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    switch = account if run_as and account.uid != os.geteuid() else None
    return ShellCommand(argv=[program, "-l"], env=env, cwd=account.home if os.path.isdir(account.home) else "/",
                        account=switch)


def _switch_to(account: object) -> Callable[[], None]:
    def switch() -> None:  # runs in the child, between fork and exec
        os.setgroups(account.groups)  # type: ignore[attr-defined]
        os.setgid(account.gid)  # type: ignore[attr-defined]
        os.setuid(account.uid)  # type: ignore[attr-defined]
    return switch


def kill_tree(pid: int) -> None:
    """End the shell and everything it started: its descendants and every process of its session."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        family = []
    if hasattr(os, "getsid"):
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                if process.pid != os.getpid() and os.getsid(process.pid) == pid and process not in family:
                    family.append(process)
    for process in family:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGHUP if hasattr(signal, "SIGHUP") else signal.SIGTERM)
            process.terminate()
    _, alive = psutil.wait_procs(family, timeout=3)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


class Terminal:
    def __init__(self, *, command: ShellCommand, cols: int, rows: int, on_output: Output, on_exit: Exited) -> None:
        self.command = command
        self.cols, self.rows = clamp_size(cols, rows)
        self.on_output = on_output
        self.on_exit = on_exit
        self.in_flight = 0
        self.closed = False
        self.process: object | None = None
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._room = threading.Event()
        self._room.set()
        self._pump: asyncio.Task | None = None

    @property
    def pid(self) -> int | None:
        return getattr(self.process, "pid", None)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if sys.platform == "win32":
            await self._start_windows()
        else:
            self._start_posix()
        self._pump = asyncio.create_task(self._pump_output(), name="fleetwatch-terminal-output")

    # --- POSIX -------------------------------------------------------------------------------------
    def _start_posix(self) -> None:
        from ptyprocess import PtyProcess

        switch = _switch_to(self.command.account) if self.command.account is not None else None
        try:
            self.process = PtyProcess.spawn(self.command.argv, cwd=self.command.cwd, env=self.command.env,
                                            preexec_fn=switch, dimensions=(self.rows, self.cols))
        except OSError as error:
            raise ShellRefused(f"The shell did not start: {error}") from error
        self._fd = self.process.fd
        os.set_blocking(self._fd, False)
        self._pending_input = bytearray()
        self._gathered = bytearray()
        self._gather_timer: asyncio.TimerHandle | None = None
        self._reading = False
        self._resume_reading()

    def _resume_reading(self) -> None:
        if not self._reading and not self.closed:
            self._loop.add_reader(self._fd, self._readable)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def _readable(self) -> None:
        room, ended = min(FRAME_SIZE, WINDOW - self.in_flight) - len(self._gathered), False
        while room > 0:  # what is there now, gathered into one frame
            try:
                piece = os.read(self._fd, min(READ_SIZE, room))
            except BlockingIOError:
                break
            except OSError:  # EIO: the shell and every holder of the terminal have gone (Linux)
                piece = b""
            if not piece:
                ended = True
                break
            self._gathered += piece
            room -= len(piece)
        if ended or room <= 0:
            self._flush_gathered()
            if ended:
                self._pause_reading()
                self._queue.put_nowait(None)
        elif self._gathered and self._gather_timer is None:
            self._gather_timer = self._loop.call_later(GATHER_SECONDS, self._flush_gathered)

    def _flush_gathered(self) -> None:
        if self._gather_timer is not None:
            self._gather_timer.cancel()
            self._gather_timer = None
        if self._gathered:
            data = bytes(self._gathered)
            self._gathered.clear()
            self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        self.in_flight += len(data)
        if self.in_flight >= WINDOW:
            self._pause_reading()
        self._queue.put_nowait(data)

    def _write_posix(self, data: bytes) -> None:
        if self._pending_input:
            self._pending_input += data
            return
        try:
            written = os.write(self._fd, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return
        if written < len(data):
            self._pending_input += data[written:]
            self._loop.add_writer(self._fd, self._flush_input)

    def _flush_input(self) -> None:
        try:
            written = os.write(self._fd, bytes(self._pending_input))
        except BlockingIOError:
            return
        except OSError:
            written = len(self._pending_input)
        del self._pending_input[:written]
        if not self._pending_input:
            self._loop.remove_writer(self._fd)

    # --- Windows (pywinpty; not exercised by this repository's tests, which run on Linux) -----------
    async def _start_windows(self) -> None:
        from winpty import PtyProcess  # pywinpty, installed with the agent on Windows

        try:
            self.process = PtyProcess.spawn(self.command.argv, cwd=self.command.cwd, env=self.command.env,
                                            dimensions=(self.rows, self.cols))
        except Exception as error:  # pywinpty raises its own error types
            raise ShellRefused(f"The shell did not start: {error}") from error
        threading.Thread(target=self._read_windows, name="fleetwatch-terminal-read", daemon=True).start()

    def _read_windows(self) -> None:
        while not self.closed:
            self._room.wait()
            try:
                text = self.process.read(READ_SIZE)  # type: ignore[attr-defined]
            except EOFError:
                break
            except Exception:
                break
            if text:
                data = text.encode("utf-8", "replace")
                self._loop.call_soon_threadsafe(self._windows_output, data)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, None)

    def _windows_output(self, data: bytes) -> None:
        self.in_flight += len(data)
        if self.in_flight >= WINDOW:
            self._room.clear()
        self._queue.put_nowait(data)

    # --- both ----------------------------------------------------------------------------------------
    async def _pump_output(self) -> None:
        while True:
            data = await self._queue.get()
            if data is None:
                break
            await self.on_output(data)
        exit_code = await asyncio.to_thread(self._exit_status)
        if not self.closed:
            self.closed = True
            await self.on_exit(exit_code)

    def _exit_status(self) -> int | None:
        process = self.process
        with contextlib.suppress(Exception):
            if sys.platform != "win32":
                process.wait()  # type: ignore[attr-defined]
            return process.exitstatus  # type: ignore[attr-defined]
        return None

    def acknowledged(self, count: int) -> None:
        """The browser has shown ``count`` more bytes: read on if the window has room again."""
        self.in_flight = max(0, self.in_flight - count)
        if self.in_flight < WINDOW:
            if sys.platform == "win32":
                self._room.set()
            else:
                self._resume_reading()

    def write(self, data: bytes) -> bool:
        """Keystrokes for the shell; False when too much waits unwritten (the shell does not read)."""
        if self.closed:
            return True
        if sys.platform == "win32":
            with contextlib.suppress(Exception):
                self.process.write(data.decode("utf-8", "replace"))  # type: ignore[attr-defined]
            return True
        self._write_posix(data)
        return len(self._pending_input) <= MAX_PENDING_INPUT

    def resize(self, cols: int, rows: int) -> None:
        self.cols, self.rows = clamp_size(cols, rows)
        with contextlib.suppress(Exception):
            self.process.setwinsize(self.rows, self.cols)  # type: ignore[attr-defined]

    async def close(self) -> None:
        """End the session: the shell's whole process tree is killed."""
        self.closed = True
        if sys.platform != "win32" and self.process is not None:
            self._pause_reading()
            if self._gather_timer is not None:
                self._gather_timer.cancel()
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._fd)
        self._room.set()
        pid = self.pid
        if pid is not None:
            await asyncio.to_thread(kill_tree, pid)
        with contextlib.suppress(Exception):
            self.process.close(force=True)  # type: ignore[attr-defined]
        if self._pump is not None:
            self._pump.cancel()
