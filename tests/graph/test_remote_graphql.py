"""Remote sessions through GraphQL: their history, file operations and transcripts, each caller seeing only
the sessions of its companies."""

from __future__ import annotations

import pytest

from portal.remote.models import FileTransfer, RemoteSession, TranscriptChunk
from portal.remote.transcripts import INPUT, OUTPUT, Recorder
from tests.graphql_client import global_id

pytestmark = pytest.mark.django_db

SESSIONS = """query ($filters: RemoteSessionFilter) { remoteSessions(first: 20, filters: $filters,
  ordering: [{requestedAt: DESC}]) { totalCount edges { node { id kind status userLabel endReason bytesFromDevice
  device { hostname } company { name } transcript { output keystrokes truncated }
  fileOperations(first: 5) { edges { node { operation path size sha256 status } } } } } } }"""


@pytest.fixture
def history(tenant_a, tenant_b):
    shell = RemoteSession.objects.create(company=tenant_a.company, device=tenant_a.device, kind="shell",
                                         user_label="alpha-tech", status="ended", end_reason="the shell exited",
                                         bytes_from_device=120)
    recorder = Recorder(output_limit=1024)
    recorder.add(INPUT, b"uptime\r")
    recorder.add(OUTPUT, b"\x1b[1m 10:00 up 3 days\x1b[0m\r\n")
    chunk = recorder.take(force=True)
    TranscriptChunk.objects.create(session=shell, seq=chunk.seq, data=chunk.data, raw_bytes=chunk.raw_bytes)
    files = RemoteSession.objects.create(company=tenant_a.company, device=tenant_a.device, kind="files",
                                         user_label="alpha-tech", status="ended")
    FileTransfer.objects.create(session=files, operation="download", path="/var/log/syslog", size=10,
                                sha256="a" * 64, status="succeeded")
    foreign = RemoteSession.objects.create(company=tenant_b.company, device=tenant_b.device, kind="shell",
                                           user_label="bravo-tech")
    return shell, files, foreign


def test_history_transcripts_and_file_operations_of_ones_companies_only(history, gql_as, operator_a, admin_user):
    _, _, foreign = history
    seen = gql_as(operator_a)(SESSIONS)["data"]["remoteSessions"]
    assert seen["totalCount"] == 2
    nodes = {edge["node"]["kind"]: edge["node"] for edge in seen["edges"]}
    assert nodes["shell"]["transcript"]["output"].strip() == "10:00 up 3 days"  # escape sequences removed
    assert nodes["shell"]["transcript"]["keystrokes"][0].endswith("uptime⏎\n")
    assert nodes["files"]["transcript"] is None
    assert nodes["files"]["fileOperations"]["edges"][0]["node"] == {
        "operation": "download", "path": "/var/log/syslog", "size": 10, "sha256": "a" * 64, "status": "succeeded"}
    assert "bravo-tech" not in str(seen)
    assert gql_as(admin_user)(SESSIONS)["data"]["remoteSessions"]["totalCount"] == 3
    query = "query ($id: ID!) { node(id: $id) { ... on RemoteSession { userLabel } } }"
    assert gql_as(operator_a)(query, {"id": global_id("RemoteSession", foreign.pk)})["data"]["node"] is None
    by_device = gql_as(admin_user)(SESSIONS, {"filters": {"device": global_id("Device", foreign.device_id)}})
    assert [e["node"]["userLabel"] for e in by_device["data"]["remoteSessions"]["edges"]] == ["bravo-tech"]
    searched = gql_as(operator_a)(SESSIONS, {"filters": {"search": "exited"}})["data"]["remoteSessions"]
    assert searched["totalCount"] == 1
