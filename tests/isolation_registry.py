"""What the cross-tenant isolation tests sweep. Every capability registers its own here.

``TENANT_ROW_MAKERS`` maps each tenant-owned model to a function that creates one row of it inside a
given company. The sweep fails when a tenant-owned model has no maker, so a new model cannot skip
the isolation tests.
"""

from collections.abc import Callable

from django.db.models import Model

from portal.audit.models import AuditEvent
from portal.inventory.models import Device
from portal.tenancy.models import Company, Contact, Group, Site
from tests import factories


def _audit_event_in(company: Company) -> AuditEvent:
    return AuditEvent.objects.create(actor_label="test", action="company.updated", object_type="tenancy.company",
                                     object_id=str(company.pk), object_repr=company.name, company=company)


TENANT_ROW_MAKERS: dict[type[Model], Callable[[Company], Model]] = {
    Company: lambda company: company,
    Site: lambda company: factories.SiteFactory(company=company),
    Group: lambda company: factories.GroupFactory(site=factories.SiteFactory(company=company)),
    Contact: lambda company: factories.ContactFactory(company=company),
    Device: lambda company: factories.DeviceFactory(site=factories.SiteFactory(company=company)),
    AuditEvent: _audit_event_in,
}
