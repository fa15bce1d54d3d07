"""GraphQL for remote sessions: their history (who opened what on which device, when, how it ended, the bytes
each way), the file operations of each, and a shell's recorded transcript. The live stream is not here: it runs
on the session page's own socket."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
import strawberry_django
from django.db.models import Q
from graphql import GraphQLError
from strawberry import auto, relay
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.common import MAX_PAGE, words_matching
from graph.context import actor_from
from graph.errors import id_filter
from graph.scoping import Visible
from graph.tenancy import CompanyNode
from portal.remote.models import FileTransfer, RemoteSession
from portal.remote.selectors import transcript_for

if TYPE_CHECKING:
    from graph.inventory import DeviceNode

DeviceRef = Annotated["DeviceNode", strawberry.lazy("graph.inventory")]
MAX_TRANSCRIPT_CHARS = 1_000_000
# Transcripts are read back from their compressed chunks: one request reads at most this much of them.
TRANSCRIPT_BYTES_PER_REQUEST = 256 * 1024 * 1024


@strawberry_django.filter_type(RemoteSession, lookups=True)
class RemoteSessionFilter:
    kind: auto
    status: auto
    requested_at: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        """Every word in the device's hostname, the user or how the session ended."""
        return words_matching(value, "device__hostname", "user_label", "end_reason", prefix=prefix)

    @strawberry_django.filter_field
    def device(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Device", column="device_id", prefix=prefix)

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)


@strawberry_django.order_type(RemoteSession)
class RemoteSessionOrder:
    requested_at: auto
    ended_at: auto


@strawberry_django.type(FileTransfer, name="RemoteFileOperation")
class RemoteFileOperationNode(Visible, relay.Node):
    """A file moved, deleted, renamed or made in a files session."""

    operation: auto
    path: auto
    target_path: auto
    size: auto
    sha256: auto
    status: auto
    error: auto
    started_at: datetime
    finished_at: datetime | None


@strawberry.type(description="A shell's recorded transcript.")
class RemoteTranscript:
    output: str = strawberry.field(description="What the endpoint printed, as text (escape sequences removed).")
    keystrokes: list[str] = strawberry.field(description="What was typed, one stretch of typing each, with the "
                                                         "milliseconds since the session opened: '+1234 ms ls -l⏎'.")
    truncated: bool = strawberry.field(description="Output past the recording limit, or past maxChars, was left "
                                                   "out.")


@strawberry_django.type(RemoteSession, name="RemoteSession", filters=RemoteSessionFilter,
                        ordering=RemoteSessionOrder)
class RemoteSessionNode(Visible, relay.Node):
    """A shell or a file browser opened on a device by one user."""

    kind: auto
    status: auto
    user_label: auto
    client_ip: auto
    run_as: auto
    shell: auto
    consent_required: auto
    requested_at: datetime
    opened_at: datetime | None
    ended_at: datetime | None
    end_reason: auto
    exit_code: auto
    bytes_to_device: auto
    bytes_from_device: auto
    transcript_bytes: auto
    transcript_removed_at: datetime | None
    device: DeviceRef
    company: CompanyNode
    file_operations: DjangoListConnection[RemoteFileOperationNode] = strawberry_django.connection(
        field_name="transfers", max_results=MAX_PAGE)

    @strawberry_django.field(only=["id", "kind", "transcript_truncated", "transcript_bytes"],
                             description="A shell's transcript (null for a files session); at most maxChars of "
                                         "output, the latest.")
    def transcript(self, info: Info, max_chars: int = 100_000) -> RemoteTranscript | None:
        if self.kind != "shell":
            return None
        context: Any = info.context
        read = (context.get("transcript_bytes", 0) if isinstance(context, dict) else getattr(
            context, "transcript_bytes", 0)) + self.transcript_bytes
        if read > TRANSCRIPT_BYTES_PER_REQUEST:
            raise GraphQLError(f"One request reads at most {TRANSCRIPT_BYTES_PER_REQUEST // 2**20} MB of transcripts;"
                               " ask for fewer sessions' transcripts at once.")
        if isinstance(context, dict):
            context["transcript_bytes"] = read
        else:
            context.transcript_bytes = read
        recorded = transcript_for(actor=actor_from(info), session=self)
        limit = max(0, min(max_chars, MAX_TRANSCRIPT_CHARS))
        return RemoteTranscript(output=recorded.output[-limit:] if limit else "",
                                keystrokes=[f"+{at_ms} ms {keys}" for at_ms, keys in recorded.keystrokes],
                                truncated=self.transcript_truncated or len(recorded.output) > limit)


@strawberry.type
class RemoteQuery:
    remote_sessions: DjangoListConnection[RemoteSessionNode] = strawberry_django.connection(max_results=MAX_PAGE)
