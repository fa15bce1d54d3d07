"""``manage.py rotate_signing_key``: replace the Ed25519 key that signs actions."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from portal.actions import signing


class Command(BaseCommand):
    help = ("Generate a new action-signing key pair. The old key is kept as '<key>.previous' and endorses the new "
            "one, so connected agents re-pin it on their next connection. Restart the server processes afterwards.")

    def handle(self, *args: Any, **options: Any) -> None:
        old, new = signing.rotate()
        self.stdout.write(f"Old public key: {old}\nNew public key: {new}\n"
                          "Restart daphne and the task cluster; agents pin the new key when they reconnect. "
                          "Keep the .previous file until every agent has reconnected.")
