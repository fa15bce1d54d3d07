"""Running signed actions: one at a time, in the order they arrive, whatever happens to the connection.

An action is recorded in the ledger before it starts (so it never runs twice), its output is streamed
while connected, and its result is spooled to disk before it is sent (so it survives a server outage
or an agent restart) and removed only when the server acknowledges it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetwatch_agent import commands, reboots, updates
from fleetwatch_agent.envelope import Refused, VerifiedAction, action_id_of, verify
from fleetwatch_agent.ledger import ActionLedger

logger = logging.getLogger(__name__)
MAX_OUTPUT_CHARS = 64 * 1024
OUTPUT_FLUSH_SECONDS = 0.5
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Outcome:
    status: str
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)


class _Capture:
    """Keeps the first MAX_OUTPUT_CHARS of a stream and what is new since the last live flush."""

    def __init__(self) -> None:
        self.text = ""
        self.truncated = False
        self.unsent = ""

    def add(self, chunk: str) -> None:
        room = MAX_OUTPUT_CHARS - len(self.text)
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[:max(room, 0)]
        self.text += chunk
        self.unsent += chunk


CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class RunAsAccount:
    """Who a run-as script runs as: the account's ids, its groups, and the login environment it expects."""

    name: str
    uid: int
    gid: int
    groups: list[int]
    home: str
    shell: str

    def environment(self) -> dict[str, str]:
        """A login's environment, not the agent's (root's variables never reach another user's script)."""
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name, "SHELL": self.shell,
                "PATH": CLEAN_PATH, "LANG": os.environ.get("LANG", "C.UTF-8")}


def run_as_account(name: str) -> RunAsAccount:
    """The account ``name`` (KeyError when there is none)."""
    import pwd  # POSIX only: Windows agents never get here (run-as is refused there)

    entry = pwd.getpwnam(name)
    return RunAsAccount(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid,
                        groups=os.getgrouplist(entry.pw_name, entry.pw_gid), home=entry.pw_dir or "/",
                        shell=entry.pw_shell or "/bin/sh")


def kill_tree(process: asyncio.subprocess.Process) -> None:
    """Kill the process and everything it started (it leads its own session / process group)."""
    if process.returncode is not None:
        return
    if sys.platform == "win32":
        os.system(f"taskkill /F /T /PID {process.pid} >NUL 2>&1")  # noqa: S605 (pid is an int)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class ActionRunner:
    def __init__(self, *, ledger: ActionLedger, work_dir: Path, device_id: int, pinned_key: Callable[[], str | None],
                 simulate_system_changes: bool = False, simulate_reboots: bool = False,
                 reboot_request_file: Path | None = None, on_inventory_changed: Callable[[], None] = lambda: None,
                 on_scan: Callable[[updates.ScanResult], None] = lambda found: None):
        self.ledger = ledger
        self.work_dir = work_dir
        self.device_id = device_id
        self.pinned_key = pinned_key
        self.simulate = simulate_system_changes
        self.simulate_reboots = simulate_reboots
        self.reboot_request_file = reboot_request_file or reboots.default_request_file()
        self.on_inventory_changed = on_inventory_changed
        self.on_scan = on_scan
        self.queue: asyncio.Queue[VerifiedAction] = asyncio.Queue()
        self.send: Send | None = None
        self.cancelled: set[int] = set()
        self.current: dict[int, asyncio.subprocess.Process] = {}
        self.current_id: int | None = None
        self._report_interrupted()

    # --- connection -------------------------------------------------------------------------------
    async def attach(self, send: Send) -> None:
        """A connection is up: send every result the server has not acknowledged, oldest first."""
        self.send = send
        for frame in self.ledger.spooled_results():
            await self._send(frame)
            await asyncio.sleep(0.05)  # stay well inside the server's frame rate limit

    def detach(self) -> None:
        self.send = None

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.send is None:
            return
        with contextlib.suppress(Exception):  # a dropped connection: spooled results go out on the next one
            await self.send(frame)

    # --- frames from the server ---------------------------------------------------------------------
    async def receive(self, frame: dict[str, Any]) -> None:
        action_id = action_id_of(frame)
        try:
            action = verify(frame, pinned_key=self.pinned_key(), device_id=self.device_id, now=time.time())
        except Refused as refusal:
            logger.warning("refused action %s: %s", action_id, refusal)
            if action_id is not None:
                await self._send({"type": "action_refused", "action_id": action_id, "reason": refusal.reason,
                                  "message": str(refusal)})
            return
        known = self.ledger.state_of(action.action_id)
        if known is not None:
            await self._answer_redelivery(action.action_id, known)
            return
        if self.ledger.before_horizon(action.queued):
            since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.ledger.horizon))
            await self._send({"type": "action_refused", "action_id": action.action_id, "reason": "before_ledger",
                              "message": f"This action was queued before this agent's record of what it ran begins "
                                         f"({since}); it may have run already, so it was not run. Queue it again "
                                         "if it is still needed."})
            return
        self.ledger.mark(action.action_id, "taken", action_type=action.action_type, expires=action.expires,
                         nonce=action.nonce)
        await self.queue.put(action)

    async def _answer_redelivery(self, action_id: int, state: str) -> None:
        """At-least-once delivery: a second copy never runs; the server gets what we know instead."""
        spooled = self.ledger.spooled(action_id)
        if spooled is not None:
            await self._send(spooled)
        elif state == "finished":
            await self._send({"type": "action_refused", "action_id": action_id, "reason": "replayed",
                              "message": "This action already ran on this device."})

    async def cancel(self, action_id: int) -> None:
        self.cancelled.add(action_id)
        process = self.current.get(action_id)
        if process is not None:
            kill_tree(process)
        elif self.ledger.state_of(action_id) is None:
            # Cancelled before it ever arrived: remember it, so a late copy is not run.
            self.ledger.mark(action_id, "finished")
            await self._finish(action_id, Outcome(status="cancelled", error="Cancelled before it started."),
                               started_at=None)

    async def wait_idle(self, *, timeout: float = 600) -> None:
        """Until no action runs or waits (a restart for an update must not cut one short); at most ``timeout``."""
        deadline = time.monotonic() + timeout
        while (self.current_id is not None or not self.queue.empty()) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)

    # --- running ------------------------------------------------------------------------------------
    async def run_forever(self) -> None:
        while True:
            action = await self.queue.get()
            started_at = time.time()
            if action.action_id in self.cancelled:
                outcome = Outcome(status="cancelled", error="Cancelled before it started.")
            elif action.expires <= started_at:
                outcome = Outcome(status="failed", error="Expired while waiting behind other actions.")
            else:
                self.ledger.mark(action.action_id, "running")
                await self._send({"type": "action_started", "action_id": action.action_id, "started_at": started_at})
                self.current_id = action.action_id
                try:
                    outcome = await self._execute(action)
                except commands.NotAvailable as missing:
                    outcome = Outcome(status="failed", error=str(missing))
                except Exception as error:  # an agent bug must not stop later actions
                    logger.exception("action %s crashed", action.action_id)
                    outcome = Outcome(status="failed", error=f"The agent failed to run this: {error}")
                finally:
                    self.current_id = None
            await self._finish(action.action_id, outcome, started_at=started_at)

    async def _finish(self, action_id: int, outcome: Outcome, *, started_at: float | None) -> None:
        frame = {"type": "action_result", "action_id": action_id, "status": outcome.status,
                 "exit_code": outcome.exit_code, "stdout": outcome.stdout, "stderr": outcome.stderr,
                 "stdout_truncated": outcome.stdout_truncated, "stderr_truncated": outcome.stderr_truncated,
                 "started_at": started_at, "finished_at": time.time(), "result": outcome.result,
                 "error": outcome.error}
        self.ledger.spool_result(frame)  # on disk before anything else, so it survives what follows
        self.ledger.mark(action_id, "finished")
        await self._send(frame)

    def _report_interrupted(self) -> None:
        for action_id, action_type in self.ledger.interrupted():
            if action_type == "reboot":
                outcome = Outcome(status="succeeded", result={"restarted": True},
                                  stdout="The device restarted.")
            else:
                outcome = Outcome(status="failed", error="The agent stopped while this ran; its outcome is unknown "
                                                         "and it was not run again.")
            frame = {"type": "action_result", "action_id": action_id, "status": outcome.status, "exit_code": None,
                     "stdout": outcome.stdout, "stderr": "", "started_at": None, "finished_at": time.time(),
                     "result": outcome.result, "error": outcome.error}
            self.ledger.spool_result(frame)
            self.ledger.mark(action_id, "finished")

    async def _execute(self, action: VerifiedAction) -> Outcome:
        payload = action.payload
        if action.action_type == "run_script":
            return await self._run_script(action.action_id, payload)
        if action.action_type == "reboot":
            argv = commands.reboot(int(payload.get("delay_seconds", 0)), str(payload.get("message", "")))
            return await self._system_command(action.action_id, argv, timeout=120)
        if action.action_type == "install_patches":
            return await self._install_patches(action.action_id, payload)
        if action.action_type == "scan_updates":
            return await self._scan_updates(payload)
        argv = commands.install_software(dict(payload.get("packages") or {}))
        outcome = await self._system_command(action.action_id, argv, timeout=2 * 3600)
        self.on_inventory_changed()
        return outcome

    async def _run_script(self, action_id: int, payload: dict[str, Any]) -> Outcome:
        language = str(payload.get("language"))
        extra = {str(k): str(v) for k, v in (payload.get("environment") or {}).items()}
        run_as = str(payload.get("run_as") or "")
        account = None
        if run_as:
            if sys.platform == "win32":
                return Outcome(status="failed", error="Run-as is not supported on Windows by this agent.")
            if os.geteuid() != 0:
                return Outcome(status="failed", error=f"Running as {run_as!r} needs the agent to run as root.")
            try:
                account = run_as_account(run_as)
            except KeyError:
                return Outcome(status="failed", error=f"There is no user {run_as!r} on this device.")
        # Another user's script lives outside the agent's private state directory, in a folder of its own.
        folder = Path(tempfile.mkdtemp(prefix=f"fleetwatch-{action_id}-")) if account else \
            self.work_dir / str(action_id)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        script = folder / f"script{commands.SCRIPT_SUFFIX.get(language, '.txt')}"
        script.write_text(str(payload.get("content", "")), encoding="utf-8")
        os.chmod(script, 0o700)
        try:
            argv = commands.interpreter(language, script) + [str(a) for a in payload.get("arguments") or []]
            if account is None:
                return await self.run_process(action_id, argv, timeout=int(payload.get("timeout") or 300),
                                              env={**os.environ, **extra}, cwd=folder)
            os.chown(folder, account.uid, account.gid)
            os.chown(script, account.uid, account.gid)
            return await self.run_process(action_id, argv, timeout=int(payload.get("timeout") or 300),
                                          env={**account.environment(), **extra}, cwd=folder, account=account)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def _system_command(self, action_id: int, argv: list[str], *, timeout: int) -> Outcome:
        if self.simulate:
            return Outcome(status="succeeded", exit_code=0, stdout="simulated, not run: " + " ".join(argv),
                           result={"simulated": True, "command": argv})
        return await self.run_process(action_id, argv, timeout=timeout,
                                      env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, cwd=None)

    async def _install_patches(self, action_id: int, payload: dict[str, Any]) -> Outcome:
        """Install each update with its platform's tool (recording each one's output and result code), then
        restart as the policy says. An update found installed already counts as installed."""
        wanted = _wanted_updates(payload)
        results, stdout, stderr = [], [], []
        for update in wanted:
            if action_id in self.cancelled:
                results.append({**update, "status": "cancelled"})
                continue
            try:
                argv = updates.install_command(update["source"], update["id"])
            except (updates.UnknownSource, FileNotFoundError) as error:
                results.append({**update, "status": "failed", "exit_code": None, "output": str(error)})
                continue
            outcome = await self._system_command(action_id, argv, timeout=3600)
            output = (outcome.stdout + outcome.stderr)[-2000:]
            if outcome.status == "succeeded":
                status = "installed"
            elif updates.installed_already(update["source"], outcome.exit_code, output):
                status = "already"
            else:
                status = "failed"
            results.append({**update, "status": status, "exit_code": outcome.exit_code, "output": output})
            stdout.append(f"== {update['id']} ({update['source']}): {status}\n{outcome.stdout}")
            stderr.append(outcome.stderr)
        self.on_inventory_changed()
        done = [r for r in results if r["status"] in ("installed", "already")]
        status = "cancelled" if action_id in self.cancelled else (
            "succeeded" if len(done) == len(results) else "failed")
        outcome = Outcome(status=status, exit_code=0 if status == "succeeded" else 1,
                          stdout="\n".join(stdout)[:MAX_OUTPUT_CHARS], stderr="".join(stderr)[:MAX_OUTPUT_CHARS],
                          result={"patches": results})
        if status != "cancelled":
            outcome.result["reboot"] = await self._restart_after_updates(
                action_id, reboots.RebootPolicy.from_payload(_reboot_policy(payload)),
                installed=[r for r in results if r["status"] == "installed"])
        return outcome

    async def _restart_after_updates(self, action_id: int, policy: reboots.RebootPolicy,
                                     installed: list[dict[str, Any]]) -> dict[str, Any]:
        device_asks = None if self.simulate else await asyncio.to_thread(updates.reboot_required)
        needed = policy.needed(installed_any=bool(installed), update_asks=any(r.get("reboot") for r in installed),
                               device_asks=device_asks)
        report: dict[str, Any] = {"mode": policy.mode, "needed": needed, "device_asks": device_asks}
        if not needed:
            return report
        report.update(await reboots.wait_before_restart(policy, request_file=self.reboot_request_file,
                                                        cancelled=lambda: action_id in self.cancelled))
        if report["cancelled"]:
            return report
        argv = commands.reboot(60, policy.message or "Restarting to finish installing updates.")
        if self.simulate or self.simulate_reboots:
            report["restart"] = "simulated"
            report["command"] = argv
            return report
        restart = await self.run_process(action_id, argv, timeout=120, env=None, cwd=None)
        report["restart"] = "in one minute" if restart.status == "succeeded" else f"failed: {restart.error}"
        return report

    async def _scan_updates(self, payload: dict[str, Any]) -> Outcome:
        """Ask the package sources for news and look again; the inventory and the scan report follow."""
        found = await asyncio.to_thread(updates.scan, refresh=bool(payload.get("refresh", True)))
        self.on_scan(found)
        self.on_inventory_changed()
        if found.error:
            return Outcome(status="failed", exit_code=1, error=f"The scan failed: {found.error}",
                           result={"updates": len(found.updates)})
        return Outcome(status="succeeded", exit_code=0, stdout=f"{len(found.updates)} update(s) available.",
                       result={"updates": len(found.updates), "reboot_required": found.reboot_required})

    async def run_process(self, action_id: int, argv: list[str], *, timeout: int, env: dict[str, str] | None,
                          cwd: Path | None, account: RunAsAccount | None = None) -> Outcome:
        """Run ``argv`` in its own process group; stream output; kill the whole tree on timeout or cancel."""
        options: dict[str, Any] = {"start_new_session": True} if sys.platform != "win32" else {
            "creationflags": 0x00000200}  # CREATE_NEW_PROCESS_GROUP
        if account is not None:
            # The user's own groups (initgroups), not root's: uid alone would leave the process in group 0.
            options.update(user=account.uid, group=account.gid, extra_groups=account.groups)
        process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                       env=env, cwd=cwd, **options)
        self.current[action_id] = process
        out, err = _Capture(), _Capture()
        readers = [asyncio.create_task(self._pump(process.stdout, out)),
                   asyncio.create_task(self._pump(process.stderr, err))]
        streamer = asyncio.create_task(self._stream(action_id, out, err))
        timed_out = False
        try:
            await asyncio.wait_for(process.wait(), timeout=timeout)
        except TimeoutError:
            timed_out = True
            kill_tree(process)
            await process.wait()
        finally:
            self.current.pop(action_id, None)
        kill_tree(process)  # children left behind by a finished script die with it
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*readers), timeout=5)
        streamer.cancel()
        if action_id in self.cancelled:
            status, error = "cancelled", "Cancelled while running; the process tree was killed."
        elif timed_out:
            status, error = "timed_out", f"Stopped after {timeout} s; the process tree was killed."
        else:
            status = "succeeded" if process.returncode == 0 else "failed"
            error = "" if status == "succeeded" else f"Exited with code {process.returncode}."
        return Outcome(status=status, exit_code=process.returncode, stdout=out.text, stderr=err.text,
                       stdout_truncated=out.truncated, stderr_truncated=err.truncated, error=error)

    @staticmethod
    async def _pump(stream: asyncio.StreamReader | None, capture: _Capture) -> None:
        if stream is None:
            return
        while chunk := await stream.read(4096):
            capture.add(chunk.decode("utf-8", "replace"))

    async def _stream(self, action_id: int, out: _Capture, err: _Capture) -> None:
        while True:
            await asyncio.sleep(OUTPUT_FLUSH_SECONDS)
            if out.unsent or err.unsent:
                frame = {"type": "action_output", "action_id": action_id, "stdout": out.unsent, "stderr": err.unsent}
                out.unsent = err.unsent = ""
                await self._send(frame)


def _wanted_updates(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The updates an install names: the server's records (source, id and the server's own update id), or
    bare ids a technician typed, installed from this device's own manager."""
    listed = payload.get("updates")
    if isinstance(listed, list):
        return [{"id": str(item.get("id", "")), "source": str(item.get("source", "")), "update": item.get("update"),
                 "reboot": bool(item.get("reboot"))} for item in listed if isinstance(item, dict)]
    try:
        source = updates.default_source()
    except FileNotFoundError as missing:
        raise commands.NotAvailable(str(missing)) from missing
    return [{"id": str(patch_id), "source": source, "update": None, "reboot": False}
            for patch_id in payload.get("patch_ids") or []]


def _reboot_policy(payload: dict[str, Any]) -> dict[str, Any]:
    """A policy's restart rules; a technician's "reboot after" restarts at once when anything was installed."""
    if isinstance(payload.get("reboot"), dict):
        return payload["reboot"]
    return {"mode": "always" if payload.get("reboot_after") else "never", "warn_minutes": 0}
