"""Create the first administrator with a generated password, printed once."""

from typing import Any

from django.core.management.base import BaseCommand

from portal.accounts.services import ensure_first_admin


class Command(BaseCommand):
    help = ("Create the first administrator (all companies) with a generated password and print it once. "
            "Does nothing when an administrator exists already.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin", help="Username of the first administrator (default: admin).")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        user, password = ensure_first_admin(username=username)
        if password is None:
            self.stdout.write(f"Administrator '{user.username}' exists already; its password was printed when it "
                              f"was created. Reset it with: manage.py changepassword {user.username}")
            return
        self.stdout.write(self.style.SUCCESS("Created the first administrator. This password is shown only once:"))
        self.stdout.write(f"  username: {user.username}\n  password: {password}")
