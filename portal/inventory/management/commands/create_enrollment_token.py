"""Issue an enrollment token for a site from the command line (printed once)."""

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token
from portal.tenancy.models import Company, Group, Site


def _one(queryset: Any, reference: str, what: str) -> Any:
    condition = Q(name=reference)
    if hasattr(queryset.model, "account_number"):
        condition |= Q(account_number=reference)
    if reference.isdigit():
        condition |= Q(pk=int(reference))
    matches = list(queryset.filter(condition)[:2])
    if len(matches) != 1:
        raise CommandError(f"No single {what} matches '{reference}'.")
    return matches[0]


class Command(BaseCommand):
    help = ("Create an enrollment token that enrolls agents into a company's site (and optionally a group). "
            "The token is printed once: give it to 'fleetwatch-agent enroll --server URL --token TOKEN'.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--company", required=True, metavar="NAME_OR_ACCOUNT_OR_ID")
        parser.add_argument("--site", required=True, metavar="NAME_OR_ID", help="A site of that company.")
        parser.add_argument("--group", metavar="NAME_OR_ID", help="A group of that site (optional).")
        parser.add_argument("--name", default="", help="What the token is for (default: the site's name).")
        parser.add_argument("--expires-in-days", type=int, default=7, help="0 for no expiry (default 7).")
        parser.add_argument("--max-uses", type=int, help="How many devices may enroll with it (default: any).")
        parser.add_argument("--quiet", action="store_true", help="Print only the token.")

    def handle(self, *args: Any, company: str, site: str, group: str | None, name: str, expires_in_days: int,
               max_uses: int | None, quiet: bool, **options: Any) -> None:
        the_company = _one(Company.objects.all(), company, "company")
        the_site = _one(Site.objects.filter(company=the_company), site, "site of that company")
        the_group = _one(Group.objects.filter(site=the_site), group, "group of that site") if group else None
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days > 0 else None
        try:
            issued = create_enrollment_token(actor=system_actor("command line"), site=the_site, group=the_group,
                                             name=name or f"{the_site.name} enrollment", expires_at=expires_at,
                                             max_uses=max_uses)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        if quiet:
            self.stdout.write(issued.plaintext)
            return
        self.stdout.write(self.style.SUCCESS(f"Enrollment token for {the_company} / {the_site} (shown only once):"))
        self.stdout.write(issued.plaintext)
