"""Remote actions with a real daphne and the real agent: output and exit codes, timeouts and cancel
kill the process tree, offline delivery runs exactly once, a server restart loses nothing, profiles."""

from __future__ import annotations

import psutil
import pytest

from portal.access import system_actor
from portal.actions import library
from portal.actions.models import ActionStatus, ActionType
from portal.actions.requests import apply_profile, cancel_action, queue_action
from portal.actions.specs import reboot_spec, script_spec
from tests.actions.agent_harness import AgentHandle, fresh, wait_for_status
from tests.live import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = system_actor("technician")


@pytest.fixture
def agent(live_daphne, tenant_a, tmp_path):
    handle = AgentHandle(directory=tmp_path, server_url=live_daphne.url, site=tenant_a.site)
    yield handle
    if handle.process is not None and handle.process.poll() is None:
        handle.process.kill()
        handle.process.wait(timeout=10)
    print(handle.log())


def _bash(agent: AgentHandle, content: str, **options):
    spec = script_spec(actor=ACTOR, inline_content=content, inline_language="bash", **options)
    return queue_action(actor=ACTOR, device=agent.device, spec=spec)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_script_output_exit_code_and_library_arguments(agent):
    agent.start()
    failing = _bash(agent, 'echo "hello $GREETING"; echo oops >&2; exit 3', environment={"GREETING": "world"})
    done = wait_for_status(failing, ActionStatus.FAILED)
    assert (done.exit_code, done.stdout, done.stderr) == (3, "hello world\n", "oops\n")
    assert done.sent_at and done.started_at and done.finished_at and done.queued_at <= done.sent_at

    script = library.create_script(actor=ACTOR, name="Echo args", language="bash", content='echo "$1-$2"',
                                   arguments=["a", "b"])
    ran = queue_action(actor=ACTOR, device=agent.device, spec=script_spec(actor=ACTOR, script=script))
    assert wait_for_status(ran, ActionStatus.SUCCEEDED).stdout == "a-b\n"
    assert fresh(ran).script_version == 1

    reboot = queue_action(actor=ACTOR, device=agent.device, spec=reboot_spec(actor=ACTOR, delay_seconds=300))
    rebooted = wait_for_status(reboot, ActionStatus.SUCCEEDED)
    assert rebooted.result["simulated"] and rebooted.result["command"][:3] == ["shutdown", "-r", "+5"]


def test_output_is_capped_with_a_truncation_flag(agent):
    agent.start()
    big = _bash(agent, "head -c 200000 /dev/zero | tr '\\0' x")
    done = wait_for_status(big, ActionStatus.SUCCEEDED)
    assert len(done.stdout) == 64 * 1024 and done.stdout_truncated and not done.stderr_truncated


def test_timeout_kills_the_process_tree(agent, tmp_path):
    agent.start()
    pid_file = tmp_path / "child.pid"
    action = _bash(agent, f"sleep 300 & echo $! > {pid_file}; wait", timeout=2)
    done = wait_for_status(action, ActionStatus.TIMED_OUT)
    assert "killed" in done.error
    wait_for(lambda: _gone(int(pid_file.read_text())), timeout=5, what="the script's child to be killed")


def test_cancel_kills_a_running_action_and_streams_output_live(agent, tmp_path):
    agent.start()
    pid_file = tmp_path / "child.pid"
    action = _bash(agent, f"echo started; sleep 300 & echo $! > {pid_file}; wait")
    wait_for(lambda: fresh(action).stdout == "started\n", what="live output while running")
    assert fresh(action).status == ActionStatus.RUNNING
    cancel_action(actor=ACTOR, action=fresh(action))
    done = wait_for_status(action, ActionStatus.CANCELLED)
    assert done.finished_at is not None
    wait_for(lambda: _gone(int(pid_file.read_text())), timeout=5, what="the cancelled process tree to die")

    agent.stop()
    marker = tmp_path / "never.txt"
    queued = _bash(agent, f"echo ran > {marker}")  # held for the stopped agent
    cancel_action(actor=ACTOR, action=fresh(queued))
    assert fresh(queued).status == ActionStatus.CANCELLED
    agent.start()
    later = _bash(agent, "echo after")
    wait_for_status(later, ActionStatus.SUCCEEDED)
    assert not marker.exists() and fresh(queued).delivery_count == 0


def test_action_queued_while_agent_stopped_runs_exactly_once(agent, tmp_path):
    marker = tmp_path / "runs.txt"
    action = _bash(agent, f"echo ran >> {marker}; echo ok")
    assert fresh(action).status == ActionStatus.QUEUED
    agent.start()
    assert wait_for_status(action, ActionStatus.SUCCEEDED).stdout == "ok\n"
    agent.stop()
    agent.start()  # a new connection re-sends anything not finished; this one is finished
    later = _bash(agent, "echo second")
    wait_for_status(later, ActionStatus.SUCCEEDED)
    assert marker.read_text() == "ran\n"
    assert fresh(action).delivery_count == 1


def test_server_restart_while_running_loses_nothing_and_runs_nothing_twice(agent, live_daphne, tmp_path):
    marker = tmp_path / "runs.txt"
    agent.start()
    action = _bash(agent, f"echo ran >> {marker}; sleep 3; echo finished")
    wait_for_status(action, ActionStatus.RUNNING)
    live_daphne.stop()
    # The result is made while the server is down: the agent spools it to disk.
    wait_for(lambda: list((tmp_path / "state" / "spool").glob("*.json")), timeout=15, what="a spooled result")
    live_daphne.start()
    done = wait_for_status(action, ActionStatus.SUCCEEDED, timeout=40)
    assert done.stdout == "finished\n" and marker.read_text() == "ran\n"
    wait_for(lambda: not list((tmp_path / "state" / "spool").glob("*.json")), what="the spool emptied after ack")


def test_profile_order_and_continue_on_error(agent, tmp_path):
    trail = tmp_path / "trail.txt"
    profile = library.create_profile(actor=ACTOR, name="Onboarding")
    steps = [("first", f"echo 0 >> {trail}", False), ("may fail", "exit 1", True),
             ("third", f"echo 2 >> {trail}", False), ("must not fail", "exit 1", False),
             ("never", f"echo 4 >> {trail}", False)]
    for index, (name, content, go_on) in enumerate(steps):
        script = library.create_script(actor=ACTOR, name=f"step {index}", language="bash", content=content)
        library.add_profile_task(actor=ACTOR, profile=profile, name=name, action_type=ActionType.RUN_SCRIPT,
                                 script=script, continue_on_error=go_on)
    result = apply_profile(actor=ACTOR, profile=profile, devices=[agent.device])
    assert result.queued == 5
    agent.start()
    actions = list(result.batch.actions.order_by("id"))
    last = wait_for_status(actions[-1], ActionStatus.CANCELLED)
    assert "earlier task" in last.error
    assert [fresh(a).status for a in actions] == ["succeeded", "failed", "succeeded", "failed", "cancelled"]
    assert trail.read_text() == "0\n2\n"
    started = [fresh(a).started_at for a in actions[:4]]
    assert started == sorted(started)


def test_a_server_killed_mid_roll_out_loses_nothing_and_runs_nothing_twice(live_daphne, tenant_a, tmp_path):
    """Results and deliveries are written in batches; a server killed (SIGKILL, no clean shutdown) between
    an agent's result and its batch's commit must leave that result in the agent's spool, and every task
    must still run exactly once, in order, on every device."""
    agents = []
    for number in range(3):
        (tmp_path / f"agent-{number}").mkdir()
        agents.append(AgentHandle(directory=tmp_path / f"agent-{number}", server_url=live_daphne.url,
                                  site=tenant_a.site))
    profile = library.create_profile(actor=ACTOR, name="Roll-out")
    for step in range(5):
        script = library.create_script(actor=ACTOR, name=f"step {step}", language="bash",
                                       content=f'echo {step} >> "$TRAIL"; sleep 0.4')
        library.add_profile_task(actor=ACTOR, profile=profile, name=f"step {step}",
                                 action_type=ActionType.RUN_SCRIPT, script=script)
    try:
        for agent in agents:
            agent.start(TRAIL=str(agent.directory / "trail.txt"))
        result = apply_profile(actor=ACTOR, profile=profile, devices=[agent.device for agent in agents])
        actions = list(result.batch.actions.order_by("id"))
        assert len(actions) == 15

        def finished() -> int:
            return sum(fresh(action).status == ActionStatus.SUCCEEDED for action in actions)

        wait_for(lambda: finished() >= 4, timeout=30, what="the roll-out under way")
        live_daphne.process.kill()  # no shutdown: whatever a batch had not committed is gone
        live_daphne.process.wait(timeout=10)
        assert finished() < 15
        live_daphne.start()
        wait_for(lambda: finished() == 15, timeout=90, what="every task of the roll-out to succeed")
        for agent in agents:
            assert (agent.directory / "trail.txt").read_text() == "0\n1\n2\n3\n4\n", agent.log()
            wait_for(lambda agent=agent: not list((agent.directory / "state" / "spool").glob("*.json")),
                     what="the spool emptied after ack")
        started = [fresh(action).started_at for action in actions]
        assert all(started)
    finally:
        for agent in agents:
            if agent.process is not None and agent.process.poll() is None:
                agent.process.kill()
                agent.process.wait(timeout=10)


def test_custom_field_parameters_reach_the_agent_resolved_and_its_output_sets_a_field(agent):
    from portal.custom_fields.services import create_custom_field, set_custom_values

    create_custom_field(actor=ACTOR, target="device", name="backup_path", label="Backup path")
    create_custom_field(actor=ACTOR, target="device", name="backup_state", label="Backup state", kind="choice",
                        choices=["ok", "stale"])
    script = library.create_script(
        actor=ACTOR, name="Check backup", language="bash", sets_field="backup_state",
        content='echo "checking $TARGET $1"; echo ok',
        parameters=[{"name": "TARGET", "type": "text", "via": "env"},
                    {"name": "days", "type": "number", "via": "argument", "default": 1}])
    agent.start()
    set_custom_values(actor=ACTOR, obj=agent.device, values={"backup_path": "/srv/backup"})
    ran = queue_action(actor=ACTOR, device=agent.device, spec=script_spec(
        actor=ACTOR, script=script, parameters={"TARGET": "{{device.custom.backup_path}}"}))
    done = wait_for_status(ran, ActionStatus.SUCCEEDED)
    assert done.stdout == "checking /srv/backup 1\nok\n"
    assert done.payload["parameters"] == {"TARGET": "/srv/backup", "days": 1}
    assert done.result["custom_field"] == {"field": "backup_state", "value": "ok"}
    agent.device.refresh_from_db()
    assert agent.device.custom_fields == {"backup_path": "/srv/backup", "backup_state": "ok"}
