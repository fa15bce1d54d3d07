"""factory_boy factories for the fleet's records."""

import factory

from portal.access import Role
from portal.accounts.models import User
from portal.inventory.models import Device, DeviceStatus, OsType, PatchUpdate, PendingPatch
from portal.tenancy.models import Company, Contact, Group, Site


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")
    account_number = factory.Sequence(lambda n: f"ACC-{n:05d}")


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Site {n}")
    contact_email = "office@example.com"


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Group {n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.com")


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    site = factory.SubFactory(SiteFactory)
    company = factory.SelfAttribute("site.company")
    hostname = factory.Sequence(lambda n: f"host-{n:05d}")
    os_type = OsType.LINUX
    status = DeviceStatus.ONLINE


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.VIEWER
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def companies(self, create, extracted, **kwargs):
        if create and extracted:
            self.companies.set(extracted)
        if create:
            self.save()


def catalogue_update(identifier: str, *, source: str = "apt", version: str = "", title: str = "",
                     category: str = "update", severity: str = "", **fields) -> PatchUpdate:
    """The catalogue row of an update (made once per source, identifier and version)."""
    update, _ = PatchUpdate.objects.get_or_create(
        source=source, identifier=identifier, version=version,
        defaults={"title": title or f"{identifier} {version}".strip(), "category": category, "severity": severity,
                  **fields})
    return update


def pending_patch(device: Device, identifier: str, **fields) -> PendingPatch:
    """An update the device needs (its catalogue row made on the way)."""
    from_version = fields.pop("from_version", "")
    return PendingPatch.objects.create(device=device, update=catalogue_update(identifier, **fields),
                                       from_version=from_version)
