"""Transcripts: recorded compressed, read back as text without escape sequences and as typing, cut at the
recording limit (keystrokes kept), searched on the device's History tab; removed after the retention period
while the session rows stay; sessions a restarted server lost track of are ended by the sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.access import actor_for_user
from portal.remote import services
from portal.remote.models import RemoteSession, TranscriptChunk
from portal.remote.selectors import search_sessions, transcript_for
from portal.remote.transcripts import INPUT, OUTPUT, RESIZE, Recorder
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


def _session(tenant, *chunks_of_records, output_limit: int = 10_000, ended_days_ago: int = 0) -> RemoteSession:
    session = RemoteSession.objects.create(company=tenant.company, device=tenant.device, kind="shell",
                                           user_label="tech", status="ended",
                                           ended_at=timezone.now() - timedelta(days=ended_days_ago))
    recorder = Recorder(output_limit=output_limit)
    for records in chunks_of_records:
        for direction, data in records:
            recorder.add(direction, data)
        chunk = recorder.take(force=True)
        services.store_transcript_chunks([(session.pk, chunk.seq, chunk.data, chunk.raw_bytes)])
    if recorder.truncated:
        RemoteSession.objects.filter(pk=session.pk).update(transcript_truncated=True)
    return RemoteSession.objects.get(pk=session.pk)


def test_a_transcript_reads_back_as_text_and_typing(tenant_a, operator_a):
    session = _session(tenant_a, [(INPUT, b"l"), (INPUT, b"s"), (INPUT, b" -l\r"),
                                  (OUTPUT, b"\x1b[01;34mbin\x1b[0m  \x1b]0;root@vm\x07etc\r\n")],
                       [(RESIZE, b"120x40"), (INPUT, b"\x03"), (OUTPUT, "été\r\n".encode())])
    transcript = transcript_for(actor=actor_for_user(operator_a), session=session)
    assert transcript.output == "bin  etc\nété\n"
    assert [keys for _, keys in transcript.keystrokes] == ["ls -l⏎\n", "^C"]
    assert [size for _, size in transcript.resizes] == ["120x40"]
    assert session.transcript_bytes == sum(chunk.raw_bytes for chunk in TranscriptChunk.objects.all())
    assert all(len(chunk.data) < chunk.raw_bytes * 2 for chunk in TranscriptChunk.objects.all())


def test_output_past_the_limit_is_cut_and_keystrokes_are_kept(tenant_a, operator_a):
    session = _session(tenant_a, [(OUTPUT, b"a" * 80), (OUTPUT, b"b" * 80), (INPUT, b"still typed\r")],
                       output_limit=100)
    transcript = transcript_for(actor=actor_for_user(operator_a), session=session)
    assert transcript.output == "a" * 80 + "b" * 20
    assert session.transcript_truncated and transcript.keystrokes[0][1] == "still typed⏎\n"


def test_search_finds_sessions_by_output_or_typing_within_ones_companies(tenant_a, tenant_b, operator_a):
    hit = _session(tenant_a, [(INPUT, b"systemctl restart nginx\r"), (OUTPUT, b"Job for nginx.service failed\r\n")])
    _session(tenant_a, [(OUTPUT, b"nothing to see\r\n")])
    _session(tenant_b, [(OUTPUT, b"nginx failed here too\r\n")])
    actor = actor_for_user(operator_a)
    result = search_sessions(actor=actor, device_id=tenant_a.device.pk, query="nginx FAILED")
    assert [found.session.pk for found in result.found] == [hit.pk] and result.complete
    assert "nginx.service failed" in result.found[0].snippets[0]
    assert search_sessions(actor=actor, device_id=tenant_a.device.pk, query="restart nginx").found
    assert search_sessions(actor=actor, device_id=tenant_b.device.pk, query="nginx").found == []
    page = logged_in(operator_a).get(reverse("device-tab", args=[tenant_a.device.pk]),
                                     {"tab": "history", "sessions_q": "nginx failed"}).content.decode()
    assert "Transcripts with “nginx failed”" in page and f"/remote-sessions/{hit.pk}/" in page


def test_retention_removes_transcripts_and_keeps_the_record(tenant_a, settings):
    settings.FLEETWATCH_REMOTE_TRANSCRIPT_DAYS = 90
    old = _session(tenant_a, [(OUTPUT, b"old\r\n")], ended_days_ago=91)
    recent = _session(tenant_a, [(OUTPUT, b"recent\r\n")], ended_days_ago=10)
    assert services.remove_old_transcripts() == 1
    assert not TranscriptChunk.objects.filter(session=old).exists()
    assert TranscriptChunk.objects.filter(session=recent).exists()
    assert RemoteSession.objects.get(pk=old.pk).transcript_removed_at is not None


def test_sessions_a_restarted_server_lost_are_ended_by_the_sweep(tenant_a, settings):
    settings.FLEETWATCH_REMOTE_IDLE_MINUTES = 15
    lost = RemoteSession.objects.create(company=tenant_a.company, device=tenant_a.device, kind="shell",
                                        user_label="tech", status="open")
    busy = RemoteSession.objects.create(company=tenant_a.company, device=tenant_a.device, kind="shell",
                                        user_label="tech", status="open")
    RemoteSession.objects.filter(pk__in=[lost.pk, busy.pk]).update(requested_at=timezone.now() - timedelta(hours=2))
    RemoteSession.objects.filter(pk=lost.pk).update(last_activity_at=timezone.now() - timedelta(hours=1))
    RemoteSession.objects.filter(pk=busy.pk).update(last_activity_at=timezone.now() - timedelta(minutes=2))
    assert services.end_abandoned_sessions() == 1
    assert RemoteSession.objects.get(pk=lost.pk).status == "ended"
    assert "abandoned" in RemoteSession.objects.get(pk=lost.pk).end_reason
    assert RemoteSession.objects.get(pk=busy.pk).status == "open"
