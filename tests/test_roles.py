"""Roles: viewers read, operators edit the fleet, admins also manage companies and users."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from portal.access import Role
from portal.tenancy import services
from portal.tenancy.models import Company, Site
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db

EDITABLE = ["companies", "sites", "groups", "contacts", "devices"]


def _own(tenant, slug):
    return {"companies": tenant.company, "sites": tenant.site, "groups": tenant.group,
            "contacts": tenant.contact, "devices": tenant.device}[slug]


@pytest.mark.parametrize("slug", EDITABLE)
def test_viewer_reads_but_sees_no_edit_controls(slug, tenant_a, viewer_a):
    client = logged_in(viewer_a)
    obj = _own(tenant_a, slug)
    listing = client.get(reverse("resource-list", args=[slug]))
    detail = client.get(reverse("resource-detail", args=[slug, obj.pk]))
    assert listing.status_code == detail.status_code == 200
    for body in (listing.content.decode(), detail.content.decode()):
        assert reverse("resource-create", args=[slug]) not in body
        assert reverse("resource-edit", args=[slug, obj.pk]) not in body
        assert reverse("resource-delete", args=[slug, obj.pk]) not in body


@pytest.mark.parametrize("slug", EDITABLE)
def test_viewer_gets_403_on_every_edit_url(slug, tenant_a, viewer_a):
    client = logged_in(viewer_a)
    obj = _own(tenant_a, slug)
    urls = [reverse("resource-create", args=[slug]), reverse("resource-edit", args=[slug, obj.pk]),
            reverse("resource-delete", args=[slug, obj.pk])]
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"name": "changed"}).status_code == 403, url
    obj.refresh_from_db()
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_operator_edits_sites_but_not_companies(tenant_a, operator_a):
    client = logged_in(operator_a)
    response = client.post(reverse("resource-create", args=["sites"]),
                           {"company": tenant_a.company.pk, "name": "Branch office"})
    assert response.status_code == 302
    assert Site.objects.filter(name="Branch office", company=tenant_a.company).exists()
    assert client.get(reverse("resource-create", args=["companies"])).status_code == 403
    assert client.post(reverse("resource-edit", args=["companies", tenant_a.company.pk]),
                       {"name": "Renamed"}).status_code == 403
    tenant_a.company.refresh_from_db()
    assert tenant_a.company.name == "Alpha Corp"


def test_scoped_admin_creates_a_company_and_can_see_it(tenant_a, admin_a):
    client = logged_in(admin_a)
    response = client.post(reverse("resource-create", args=["companies"]),
                           {"name": "Charlie Ltd", "account_number": ""})
    assert response.status_code == 302
    company = Company.objects.get(name="Charlie Ltd")
    assert company.account_number is None
    assert client.get(reverse("resource-detail", args=["companies", company.pk])).status_code == 200


def test_services_refuse_roles_below_what_they_need(tenant_a, viewer_a, operator_a, actor_of):
    with pytest.raises(PermissionDenied):
        services.create_site(actor=actor_of(viewer_a), company=tenant_a.company, name="Nope")
    with pytest.raises(PermissionDenied):
        services.delete_company(actor=actor_of(operator_a), company=tenant_a.company)
    assert Company.objects.filter(pk=tenant_a.company.pk).exists()


def test_role_ranks(actor_of, viewer_a, operator_a, admin_a):
    assert actor_of(viewer_a).has_role(Role.VIEWER) and not actor_of(viewer_a).has_role(Role.OPERATOR)
    assert actor_of(operator_a).has_role(Role.OPERATOR) and not actor_of(operator_a).has_role(Role.ADMIN)
    assert actor_of(admin_a).has_role(Role.ADMIN)


def test_only_all_company_admins_reach_user_management(admin_user, admin_a, operator_a):
    url = reverse("admin:accounts_user_changelist")
    assert logged_in(admin_user).get(url).status_code == 200
    assert logged_in(admin_a).get(url).status_code == 403
    assert logged_in(operator_a).get(url).status_code == 302  # not staff: sent to the admin login


def test_services_refuse_writes_into_invisible_companies(tenant_a, tenant_b, operator_a, actor_of):
    from django.core.exceptions import ObjectDoesNotExist

    with pytest.raises(ObjectDoesNotExist):
        services.create_site(actor=actor_of(operator_a), company=tenant_b.company, name="Smuggled")
    with pytest.raises(ObjectDoesNotExist):
        services.update_site(actor=actor_of(operator_a), site=tenant_b.site, name="Taken")
    assert not Site.objects.filter(name__in=["Smuggled", "Taken"]).exists()
