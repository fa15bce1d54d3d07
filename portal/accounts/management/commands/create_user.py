"""Create a technician or integrator account from the command line."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from portal.access import Role, system_actor
from portal.accounts.services import create_user
from portal.tenancy.models import Company


class Command(BaseCommand):
    help = ("Create a user with a role and a company scope. The password is generated and printed once "
            "unless --password is given.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=[role.value for role in Role], default=Role.VIEWER.value,
                            help="viewer reads; operator also edits and runs actions; admin manages everything.")
        parser.add_argument("--company", action="append", default=[], metavar="NAME_OR_ACCOUNT_OR_ID",
                            help="A company the user may see (repeat for several).")
        parser.add_argument("--all-companies", action="store_true", help="The user sees every company.")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Set this password instead of generating one.")
        parser.add_argument("--inline-scripts", action="store_true",
                            help="May run ad-hoc scripts that are not in the library (admins always may).")
        parser.add_argument("--remote-sessions", action="store_true",
                            help="May open a shell or browse files on the endpoints of their companies (admins "
                                 "always may).")

    def handle(self, *args: Any, username: str, role: str, company: list[str], all_companies: bool, email: str,
               password: str | None, inline_scripts: bool = False, remote_sessions: bool = False,
               **options: Any) -> None:
        if not company and not all_companies:
            raise CommandError("Give at least one --company, or --all-companies.")
        companies = [self._find_company(ref) for ref in company]
        try:
            user, secret = create_user(actor=system_actor("command line"), username=username, role=Role(role),
                                       email=email, password=password, all_companies=all_companies,
                                       companies=companies, can_run_inline_scripts=inline_scripts,
                                       can_open_remote_sessions=remote_sessions)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(self.style.SUCCESS(f"Created {role} '{user.username}'."))
        if password is None:
            self.stdout.write(f"Password (shown only once): {secret}")

    def _find_company(self, reference: str) -> Company:
        condition = Q(name=reference) | Q(account_number=reference)
        if reference.isdigit():
            condition |= Q(pk=int(reference))
        matches = list(Company.objects.filter(condition)[:2])
        if len(matches) != 1:
            raise CommandError(f"No single company matches '{reference}'.")
        return matches[0]
