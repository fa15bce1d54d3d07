"""autobahn's per-connection configuration dump is formatted only when its debug line is written."""

from __future__ import annotations

import autobahn.twisted.websocket  # noqa: F401 (selects txaio's framework, as daphne does)
import pytest
import txaio
from autobahn.websocket import protocol

import portal.asgi  # noqa: F401 (the server's entry point installs it)
from realtime.autobahn_logging import NOT_FORMATTED


@pytest.fixture
def log_level():
    before = txaio.get_global_log_level()
    yield txaio.set_global_log_level
    txaio.set_global_log_level(before)


def test_the_server_formats_no_config_at_info(log_level):
    log_level("info")
    assert protocol.pformat([("autoPingInterval", 0, "Factory")]) == NOT_FORMATTED


def test_debug_logging_still_shows_the_config(log_level):
    log_level("debug")
    assert protocol.pformat([("autoPingInterval", 0, "Factory")]) == "[('autoPingInterval', 0, 'Factory')]"
