"""A web process that has shut down exits at once, without tearing its heap down object by object.

Once daphne's shutdown is over (every application instance cancelled, every socket closed) the process
has nothing left to do, but the interpreter's teardown still runs a full garbage collection and frees every
object one at a time: at 7,500 agent sockets a process held ~600 MB of them, and this took seconds, during
which a restart cannot start the new processes. Everything the interpreter does before that teardown is
still done, in its order: worker threads finish what they hold (a batch being written is committed, not cut
off), then the exit handlers run (the devices this process held are released). The last of those, this
module's, flushes the logs and ends the process, only after a shutdown that went through to its end.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys

_shut_down = False


def exit_promptly_after_shutdown() -> None:
    """In a daphne process (its Twisted reactor running this application): once its shutdown is complete,
    skip the interpreter's teardown. Anywhere else (tests, management commands) nothing changes."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    reactor.addSystemEventTrigger("after", "shutdown", _mark_shut_down)
    # Exit handlers run last-registered first: this one, registered as the application loads, runs after
    # those registered later (the release of held devices) and ends the process before the teardown.
    atexit.register(_exit_if_shut_down)


def _mark_shut_down() -> None:
    global _shut_down
    _shut_down = True


def _exit_if_shut_down() -> None:
    if not _shut_down or getattr(sys, "last_value", None) is not None:
        return  # no clean shutdown, or an error on the way out: the interpreter exits as it would, with its status
    try:
        logging.shutdown()  # registered before this handler, so it would run after it
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)
