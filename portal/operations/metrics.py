"""Prometheus metrics every process records (prometheus-client in multiprocess mode).

Each process writes its figures to memory-mapped files in ``<data dir>/metrics`` (the settings point
``PROMETHEUS_MULTIPROC_DIR`` there before this module is imported); ``/metrics`` adds up every process's
files on this host. Files of processes that have ended are removed when a process starts, so counters of a
restarted server begin again (Prometheus's ``rate`` reads that as a reset).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

_PID_FILE = re.compile(r"_(\d+)\.db$")

AGENTS_CONNECTED = Gauge("fleetwatch_agents_connected", "Agents connected (said hello) to this web process.",
                         multiprocess_mode="livesum")
AGENTS_CONNECTED_BY_PROCESS = Gauge("fleetwatch_agents_connected_by_process",
                                    "Agents connected to each web process (label pid).", multiprocess_mode="liveall")
HEARTBEATS = Counter("fleetwatch_heartbeats", "Agent heartbeats answered.")
HEARTBEAT_ACK_SECONDS = Histogram(
    "fleetwatch_heartbeat_ack_seconds", "From a heartbeat frame's arrival on the server to its acknowledgement.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
FRAMES_REFUSED = Counter("fleetwatch_agent_frames_refused", "Agent frames refused, by reason.", ["reason"])
HANDSHAKES_REFUSED = Counter("fleetwatch_agent_handshakes_refused", "Agent connections refused before accepting, "
                             "by reason.", ["reason"])
HTTP_SECONDS = Histogram("fleetwatch_http_request_seconds", "HTTP answers by route, method and status class.",
                         ["route", "method", "status"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
GC_PAUSE_SECONDS = Histogram("fleetwatch_gc_pause_seconds", "Python's garbage collections in web processes, by "
                             "generation: every thread of the process waits while one runs.", ["generation"],
                             buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
SNMP_CYCLE_SECONDS = Histogram("fleetwatch_snmp_chunk_seconds", "One SNMP poll chunk (a share of a cycle), from "
                               "start to stored results.", buckets=(0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120))
SNMP_POLLS = Counter("fleetwatch_snmp_polls", "SNMP device polls, by result.", ["result"])
SYNC_RUNS = Counter("fleetwatch_connector_sync_runs", "Connector sync runs, by vendor and result.",
                    ["vendor", "result"])


def remove_files_of_ended_processes(directory: Path | None = None) -> int:
    """Delete the metric files of processes that no longer run (this host's pids). Returns how many."""
    target = directory or Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))
    if not target.is_dir():
        return 0
    removed = 0
    for path in target.glob("*.db"):
        match = _PID_FILE.search(path.name)
        if match and not _running(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
