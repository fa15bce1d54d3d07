"""autobahn formats its whole protocol configuration for a debug line on every new connection.

``WebSocketProtocol._connectionMade`` calls ``pprint.pformat`` on ~40 settings and passes the text to
``log.debug``, which then drops it (the server logs at INFO). py-spy in a reconnect storm of 15,000 agents
found that formatting in ~10 % of the event loop's samples. The module's ``pformat`` is replaced by one that
formats only while autobahn's log level would write debug lines.
"""

from __future__ import annotations

import pprint
from typing import Any

import txaio
from autobahn.websocket import protocol

NOT_FORMATTED = "(not formatted: autobahn logs at info or above)"


def _pformat_when_debugging(value: Any) -> str:
    try:
        level = txaio.get_global_log_level()
    except RuntimeError:  # no framework chosen yet: nothing to save, format as autobahn would
        level = "debug"
    if level in ("debug", "trace"):
        return pprint.pformat(value)
    return NOT_FORMATTED


def format_config_only_when_debugging() -> None:
    protocol.pformat = _pformat_when_debugging
