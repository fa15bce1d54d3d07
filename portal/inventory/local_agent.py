"""The agent on the server's own machine, which `make up` enrolls so a new user sees one live device."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token
from portal.tenancy.models import Company, Site
from portal.tenancy.services import create_company, create_site

LOCAL_COMPANY = "Local machine"
LOCAL_SITE = "This server"


@transaction.atomic
def local_enrollment_token() -> str:
    """A single-use, short-lived enrollment token for the local agent (company and site made on first use)."""
    actor = system_actor("local agent setup")
    company = Company.objects.filter(name=LOCAL_COMPANY).first() or create_company(
        actor=actor, name=LOCAL_COMPANY, notes="The machine Fleetwatch itself runs on; created by `make up`.")
    site = Site.objects.filter(company=company, name=LOCAL_SITE).first() or create_site(
        actor=actor, company=company, name=LOCAL_SITE)
    issued = create_enrollment_token(actor=actor, site=site, name="local agent", max_uses=1,
                                     expires_at=timezone.now() + timedelta(minutes=10))
    return issued.plaintext
