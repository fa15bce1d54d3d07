"""Reads of companies, sites, groups and contacts, always scoped to the actor."""

from __future__ import annotations

from django.db.models import Count, IntegerField, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from portal.access import Actor, visible_to
from portal.inventory.models import Device, DeviceStatus
from portal.tenancy.models import Company, Contact, Group, Site


def _count_per_company(model: type[Model], condition: Q | None = None) -> Coalesce:
    """A correlated COUNT per company: no join fan-out, so it stays cheap with many devices."""
    rows = model.objects.filter(company=OuterRef("pk"))
    if condition is not None:
        rows = rows.filter(condition)
    counted = rows.order_by().values("company").annotate(total=Count("pk")).values("total")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def companies_for(*, actor: Actor) -> QuerySet[Company]:
    return visible_to(Company.objects.all(), actor)


def companies_with_counts_for(*, actor: Actor) -> QuerySet[Company]:
    """Companies with their numbers of sites, contacts and devices online/offline (for list pages)."""
    online = Q(status=DeviceStatus.ONLINE)
    return companies_for(actor=actor).annotate(
        site_count=_count_per_company(Site),
        contact_count=_count_per_company(Contact),
        device_count=_count_per_company(Device),
        online_count=_count_per_company(Device, online),
        offline_count=_count_per_company(Device, ~online),
    )


def sites_for(*, actor: Actor) -> QuerySet[Site]:
    return visible_to(Site.objects.select_related("company"), actor)


def groups_for(*, actor: Actor) -> QuerySet[Group]:
    return visible_to(Group.objects.select_related("site", "site__company"), actor)


def contacts_for(*, actor: Actor) -> QuerySet[Contact]:
    return visible_to(Contact.objects.select_related("company"), actor)
