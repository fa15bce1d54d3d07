"""A daphne process whose shutdown is over exits at once: its threads finish and its exit handlers run (the
held devices are released), the interpreter's teardown of every object does not."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SERVER = """
    import atexit, pathlib, threading, time
    from twisted.internet import asyncioreactor
    asyncioreactor.install()
    from twisted.internet import reactor
    from realtime.prompt_exit import exit_promptly_after_shutdown

    marks = pathlib.Path({marks!r})

    class TornDown:
        def __del__(self):
            (marks / "teardown").write_text("ran")

    kept = TornDown()  # freed only by the interpreter's teardown
    exit_promptly_after_shutdown()
    # As the release of held devices: registered once the process serves, after the application loaded.
    atexit.register(lambda: (marks / "exit-handler").write_text("ran"))
    finishing = threading.Thread(target=lambda: (time.sleep(0.5), (marks / "thread").write_text("ran")))
    reactor.callLater(0, finishing.start)
    reactor.callLater(0.1, reactor.stop)
    {run}
"""


def _serve(tmp_path, run: str) -> subprocess.CompletedProcess:
    script = textwrap.dedent(SERVER).format(marks=str(tmp_path), run=run)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)


def test_threads_finish_and_exit_handlers_run_but_the_teardown_is_skipped(tmp_path):
    finished = _serve(tmp_path, "reactor.run()")
    assert finished.returncode == 0, finished.stderr
    assert (tmp_path / "thread").read_text() == "ran"  # a thread's work in hand was finished first
    assert (tmp_path / "exit-handler").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()


def test_a_process_that_fails_on_its_way_out_exits_as_before(tmp_path):
    finished = _serve(tmp_path, "reactor.run()\nraise RuntimeError('broken on the way out')")
    assert finished.returncode == 1 and "RuntimeError: broken on the way out" in finished.stderr
    assert (tmp_path / "exit-handler").read_text() == "ran"
    assert (tmp_path / "teardown").read_text() == "ran"  # the interpreter's own exit, status kept


def test_nothing_changes_outside_a_daphne_process():
    code = "import sys; from realtime.prompt_exit import exit_promptly_after_shutdown; " \
           "exit_promptly_after_shutdown(); print('twisted.internet.reactor' in sys.modules)"
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert finished.stdout.strip() == "False"  # no reactor installed by asking
