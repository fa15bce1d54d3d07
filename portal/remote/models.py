"""Remote sessions: a live terminal or a file browser on one endpoint, opened by one user, recorded.

A session's row is its audit record (who, which device, when, how many bytes each way, how it ended); a
shell's transcript (output and keystrokes) is kept compressed in chunks for the retention period; every
file transfer, deletion and rename is a row of its own with the file's size and SHA-256.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from portal.access import TenantOwned
from portal.inventory.models import Device
from portal.tenancy.models import Company


class SessionKind(models.TextChoices):
    SHELL = "shell", "Shell"
    FILES = "files", "Files"


class SessionStatus(models.TextChoices):
    OPENING = "opening", "Opening"
    OPEN = "open", "Open"
    ENDED = "ended", "Ended"
    REFUSED = "refused", "Refused"


class RemoteSession(TenantOwned):
    company_path = "company_id"

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="remote_sessions")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="remote_sessions")
    kind = models.CharField(max_length=8, choices=SessionKind.choices)
    status = models.CharField(max_length=8, choices=SessionStatus.choices, default=SessionStatus.OPENING)
    # The label stays when the user is deleted, so the record still says who it was.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="remote_sessions")
    user_label = models.CharField(verbose_name="User", max_length=150)
    client_ip = models.GenericIPAddressField(verbose_name="Client IP address", null=True, blank=True)
    run_as = models.CharField(verbose_name="Run as", max_length=64, blank=True,
                              help_text="The account the shell runs as (empty: the agent's, root or SYSTEM).")
    shell = models.CharField(max_length=16, blank=True, choices=[
        ("", "The account's shell (PowerShell on Windows)"), ("bash", "bash"), ("sh", "sh"), ("zsh", "zsh"),
        ("powershell", "PowerShell"), ("cmd", "Command Prompt (cmd)")])
    consent_required = models.BooleanField(default=False)
    requested_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Written with the transcript (every few seconds while the session is busy): a session whose server process
    # went away without ending it is found by this and ended by a built-in job.
    last_activity_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=300, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    bytes_to_device = models.BigIntegerField(default=0)
    bytes_from_device = models.BigIntegerField(default=0)
    transcript_bytes = models.BigIntegerField(default=0)
    transcript_truncated = models.BooleanField(default=False)
    transcript_removed_at = models.DateTimeField(null=True, blank=True,
                                                 help_text="When the retention period removed the transcript.")

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["device", "-requested_at"]), models.Index(fields=["status"]),
                   models.Index(fields=["company", "-requested_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.device} by {self.user_label}"

    @property
    def is_live(self) -> bool:
        return self.status in (SessionStatus.OPENING, SessionStatus.OPEN)

    @property
    def duration_seconds(self) -> float | None:
        if self.opened_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.opened_at).total_seconds()


class TranscriptChunk(TenantOwned):
    """A stretch of a shell's transcript: records of (milliseconds since the session opened, direction —
    output, input or resize — and bytes), zlib-compressed."""

    company_path = "session__company_id"

    session = models.ForeignKey(RemoteSession, on_delete=models.CASCADE, related_name="transcript_chunks")
    seq = models.PositiveIntegerField()
    data = models.BinaryField()
    raw_bytes = models.PositiveIntegerField()

    class Meta:
        ordering = ["session", "seq"]
        constraints = [models.UniqueConstraint(fields=["session", "seq"], name="remote_transcript_chunk_once")]


class FileOperation(models.TextChoices):
    UPLOAD = "upload", "Upload"
    DOWNLOAD = "download", "Download"
    DELETE = "delete", "Delete"
    RENAME = "rename", "Rename"
    MKDIR = "mkdir", "New folder"


class TransferStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class FileTransfer(TenantOwned):
    """One file operation of a files session: what moved or changed, its size and SHA-256."""

    company_path = "session__company_id"

    session = models.ForeignKey(RemoteSession, on_delete=models.CASCADE, related_name="transfers")
    operation = models.CharField(max_length=8, choices=FileOperation.choices)
    path = models.CharField(max_length=1024)
    target_path = models.CharField(max_length=1024, blank=True, help_text="A rename's new path.")
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(verbose_name="SHA-256", max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=TransferStatus.choices, default=TransferStatus.RUNNING)
    error = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} {self.path}"
