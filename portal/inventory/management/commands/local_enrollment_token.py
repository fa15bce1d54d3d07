"""``manage.py local_enrollment_token``: print a single-use token for this server's own agent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from portal.inventory.local_agent import local_enrollment_token


class Command(BaseCommand):
    help = ("Print a single-use enrollment token, valid for ten minutes, that enrolls this server's own agent into "
            "the company 'Local machine' (made on first use). The agent service of 'deploy_config' calls it once.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(local_enrollment_token())
