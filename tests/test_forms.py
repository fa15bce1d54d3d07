"""Bad form input shows errors inline and writes nothing."""

import pytest
from django.urls import reverse

from portal.audit.models import AuditEvent
from portal.inventory.models import Device
from portal.tenancy.models import Company, Contact, Site
from tests import factories
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _nothing_written(model, count_before):
    assert model.objects.count() == count_before
    assert not AuditEvent.objects.exclude(action="user.signed_in").exists()  # signing in is audited, not a write


def test_missing_required_field_shows_error(tenant_a, operator_a):
    before = Site.objects.count()
    response = logged_in(operator_a).post(reverse("resource-create", args=["sites"]), {"company": tenant_a.company.pk})
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    _nothing_written(Site, before)


def test_htmx_post_gets_the_form_partial_back_with_errors(tenant_a, operator_a):
    before = Site.objects.count()
    response = logged_in(operator_a).post(
        reverse("resource-create", args=["sites"]),
        {"company": tenant_a.company.pk, "name": "Lab", "contact_email": "not-an-email"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<form id="record-form"')  # a partial, swapped in place
    assert "Enter a valid email address." in body
    _nothing_written(Site, before)


def test_htmx_success_redirects_the_browser(tenant_a, operator_a):
    response = logged_in(operator_a).post(reverse("resource-create", args=["sites"]),
                                          {"company": tenant_a.company.pk, "name": "Lab"}, **HTMX)
    site = Site.objects.get(name="Lab")
    assert response["HX-Redirect"] == reverse("resource-detail", args=["sites", site.pk])


def test_duplicate_site_name_in_a_company_is_refused(tenant_a, operator_a):
    before = Site.objects.count()
    response = logged_in(operator_a).post(reverse("resource-create", args=["sites"]),
                                          {"company": tenant_a.company.pk, "name": tenant_a.site.name})
    assert response.status_code == 422
    assert "already exists" in response.content.decode()
    _nothing_written(Site, before)


def test_duplicate_account_number_is_refused(tenant_a, admin_a):
    before = Company.objects.count()
    response = logged_in(admin_a).post(reverse("resource-create", args=["companies"]),
                                       {"name": "Copycat", "account_number": tenant_a.company.account_number})
    assert response.status_code == 422
    assert "already exists" in response.content.decode()
    _nothing_written(Company, before)


def test_contact_without_any_way_to_reach_them_is_refused(tenant_a, operator_a):
    before = Contact.objects.count()
    response = logged_in(operator_a).post(reverse("resource-create", args=["contacts"]),
                                          {"company": tenant_a.company.pk, "name": "Ghost"})
    assert response.status_code == 422
    assert "email address or a phone number" in response.content.decode()
    _nothing_written(Contact, before)


def test_device_with_a_group_of_another_site_is_refused(tenant_a, operator_a):
    other_site = factories.SiteFactory(company=tenant_a.company, name="Annex")
    before = Device.objects.count()
    response = logged_in(operator_a).post(reverse("resource-create", args=["devices"]), {
        "site": other_site.pk, "group": tenant_a.group.pk, "hostname": "pc-1", "os_type": "linux"})
    assert response.status_code == 422
    assert "This group belongs to another site." in response.content.decode()
    _nothing_written(Device, before)


def test_failed_edit_leaves_the_row_untouched(tenant_a, operator_a):
    response = logged_in(operator_a).post(reverse("resource-edit", args=["sites", tenant_a.site.pk]),
                                          {"name": "", "contact_email": "bad"})
    assert response.status_code == 422
    tenant_a.site.refresh_from_db()
    assert tenant_a.site.name == "Alpha HQ"
    assert not AuditEvent.objects.exclude(action="user.signed_in").exists()  # signing in is audited, not a write


def test_invalid_choice_of_os_is_refused(tenant_a, operator_a):
    before = Device.objects.count()
    response = logged_in(operator_a).post(reverse("resource-create", args=["devices"]), {
        "site": tenant_a.site.pk, "hostname": "pc-1", "os_type": "amiga"})
    assert response.status_code == 422
    _nothing_written(Device, before)


def test_delete_asks_first_then_deletes(tenant_a, operator_a):
    client = logged_in(operator_a)
    url = reverse("resource-delete", args=["contacts", tenant_a.contact.pk])
    confirm = client.get(url)
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    assert Contact.objects.filter(pk=tenant_a.contact.pk).exists()
    assert client.post(url).status_code == 302
    assert not Contact.objects.filter(pk=tenant_a.contact.pk).exists()


def test_delete_button_carries_a_confirmation(tenant_a, operator_a):
    body = logged_in(operator_a).get(reverse("resource-detail", args=["contacts", tenant_a.contact.pk])).content
    assert b"hx-confirm=" in body


def test_preselected_parent_from_query_string(tenant_a, operator_a):
    body = logged_in(operator_a).get(reverse("resource-create", args=["sites"]),
                                     {"company": tenant_a.company.pk}).content.decode()
    assert f'<option value="{tenant_a.company.pk}" selected>' in body
