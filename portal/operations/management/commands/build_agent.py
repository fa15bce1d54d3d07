"""``manage.py build_agent``: build, sign and publish the agent that new endpoints install."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.operations.agent_release import AgentBuildFailed, build_release


class Command(BaseCommand):
    help = ("Build the agent's wheel from this checkout's agent/ (dependencies pinned in its metadata), store it with "
            "its SHA-256 and an Ed25519 signature by the action-signing key, and serve it at /agent/download/ "
            "for the install one-liners on the Enrollment page. Run it after each upgrade.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", help="the agent's source directory (default: this checkout's agent/)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            release = build_release(source=Path(options["source"]).resolve() if options["source"] else None)
        except AgentBuildFailed as error:
            raise CommandError(f"Could not build the agent: {error}") from error
        self.stdout.write(f"Agent {release.version} ready: {release.wheel.name}\n  SHA-256 {release.sha256}")
