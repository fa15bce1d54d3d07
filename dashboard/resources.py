"""The dashboard's record types of the core's models (companies to devices, the audit log); the actions'
are in action_resources, the features' in their own packages. All are registered in ``portal.pages``.

One generic set of views serves every resource, so pages, permission checks and the isolation tests stay
the same for all of them. A resource pairs a selector (reads) with services (writes).
"""

from __future__ import annotations

from typing import Any

from dashboard import forms
from dashboard.custom_field_views import CustomFieldForm
from dashboard.device_tabs import tab_context
from portal.access import Actor, Role, is_msp_admin
from portal.audit.selectors import audit_events_for
from portal.custom_fields import services as custom_field_services
from portal.custom_fields.models import CustomFieldTarget
from portal.custom_fields.selectors import custom_fields_for
from portal.dynamic_groups.selectors import dynamic_group_choices, filter_by_group
from portal.inventory import services as device_services
from portal.inventory.models import DeviceStatus, OsType
from portal.inventory.selectors import (
    devices_for,
)
from portal.pages import (
    TAG_FILTER,
    TAGS_COLUMN,
    Column,
    ListFilter,
    Resource,
    company_choices,
    group_choices,
    site_choices,
    static_choices,
    tag_label,
)
from portal.tags import services as tag_services
from portal.tags.selectors import tags_with_counts_for
from portal.tenancy import services as tenancy_services
from portal.tenancy.selectors import (
    companies_with_counts_for,
    contacts_for,
    groups_for,
    sites_for,
)


def _company_detail(actor: Actor, company: Any) -> dict[str, Any]:
    sites = sites_for(actor=actor).filter(company=company).prefetch_related("groups")
    devices = devices_for(actor=actor).filter(company=company)
    return {
        "sites": sites,
        "contacts": contacts_for(actor=actor).filter(company=company),
        "device_total": devices.count(),
        "device_online": devices.filter(status="online").count(),
        "ungrouped_devices": devices.filter(group__isnull=True)[:50],
    }


def _site_detail(actor: Actor, site: Any) -> dict[str, Any]:
    return {
        "groups": groups_for(actor=actor).filter(site=site),
        "devices": devices_for(actor=actor).filter(site=site)[:100],
    }


def _group_detail(actor: Actor, group: Any) -> dict[str, Any]:
    return {"devices": devices_for(actor=actor).filter(group=group)[:100]}


COMPANIES = Resource(
    slug="companies", noun="company", title="Companies",
    rows_for=companies_with_counts_for,
    columns=(
        Column("Name", "name", "name"),
        Column("Account", "account_number", "account_number"),
        Column("Sites", "site_count", "site_count"),
        Column("Devices", "device_count", "device_count"),
        Column("Online", "online_count", "online_count"),
        Column("Contacts", "contact_count", "contact_count"),
    ),
    search_fields=("name", "account_number", "notes"),
    default_sort="name",
    form_class=forms.CompanyForm,
    create=tenancy_services.create_company,
    update=tenancy_services.update_company,
    delete=tenancy_services.delete_company,
    create_role=Role.ADMIN, edit_role=Role.ADMIN,
    empty_hint="Add your first client company; its sites, groups and devices go under it.",
    detail_context=_company_detail,
    custom_field_target="company",
)

SITES = Resource(
    slug="sites", noun="site", title="Sites",
    rows_for=sites_for,
    columns=(
        Column("Name", "name", "name"),
        Column("Company", "company.name", "company__name"),
        Column("Phone", "contact_phone"),
        Column("Email", "contact_email"),
        Column("Created", "created_at", "created_at"),
    ),
    search_fields=("name", "description", "address", "company__name"),
    default_sort="name",
    form_class=forms.SiteForm,
    create=tenancy_services.create_site,
    update=tenancy_services.update_site,
    delete=tenancy_services.delete_site,
    parent_fields=("company",),
    empty_hint="Sites are a company's locations. Open a company and add one.",
    detail_context=_site_detail,
    custom_field_target="site",
)

GROUPS = Resource(
    slug="groups", noun="group", title="Groups",
    rows_for=groups_for,
    columns=(
        Column("Name", "name", "name"),
        Column("Site", "site.name", "site__name"),
        Column("Company", "site.company.name", "site__company__name"),
        Column("Created", "created_at", "created_at"),
    ),
    search_fields=("name", "notes", "site__name", "site__company__name"),
    default_sort="name",
    form_class=forms.GroupForm,
    create=tenancy_services.create_group,
    update=tenancy_services.update_group,
    delete=tenancy_services.delete_group,
    parent_fields=("site",),
    empty_hint="Groups sort a site's devices (servers, a floor, a department). Open a site and add one.",
    detail_context=_group_detail,
)

CONTACTS = Resource(
    slug="contacts", noun="contact", title="Contacts",
    rows_for=contacts_for,
    columns=(
        Column("Name", "name", "name"),
        Column("Company", "company.name", "company__name"),
        Column("Job title", "job_title", "job_title"),
        Column("Email", "email", "email"),
        Column("Phone", "phone"),
    ),
    search_fields=("name", "email", "phone", "job_title", "company__name"),
    default_sort="name",
    form_class=forms.ContactForm,
    create=tenancy_services.create_contact,
    update=tenancy_services.update_contact,
    delete=tenancy_services.delete_contact,
    parent_fields=("company",),
    empty_hint="Contacts are the people at a client you talk to. Add one to a company.",
)

DEVICES = Resource(
    slug="devices", noun="device", title="Devices",
    rows_for=devices_for,
    columns=(
        Column("Hostname", "hostname", "hostname"),
        Column("Status", "get_status_display", "status"),
        Column("OS", "get_os_type_display", "os_type"),
        Column("Company", "company.name", "company__name"),
        Column("Site", "site.name", "site__name"),
        TAGS_COLUMN,
        Column("Last seen", "last_seen", "last_seen"),
    ),
    search_fields=("hostname", "display_name", "os_version", "serial_number", "ip_addresses", "company__name",
                   "site__name", "tags__name"),
    default_sort="hostname",
    form_class=forms.DeviceForm,
    create=device_services.create_device,
    update=device_services.update_device,
    delete=device_services.delete_device,
    parent_fields=("site", "group"),
    empty_hint="Devices appear here when agents enroll (see Enrollment); you can also add a record by hand.",
    detail_context=tab_context,
    detail_reads_query=True,
    selectable=True,
    taggable=True,
    custom_field_target="device",
    hidden_fields=("agent_connection", "cpu_percent", "memory_percent", "status"),
    filters=(
        ListFilter("status", "Status", "status", static_choices(list(DeviceStatus.choices))),
        ListFilter("os", "OS", "os_type", static_choices(list(OsType.choices))),
        ListFilter("company", "Company", "company_id", company_choices),
        ListFilter("site", "Site", "site_id", site_choices),
        ListFilter("group", "Group", "group_id", group_choices),
        TAG_FILTER,
        ListFilter("dynamic", "Dynamic group", "", dynamic_group_choices, apply=filter_by_group),
        ListFilter("patches", "Patches", "", static_choices([("pending", "Pending patches")]),
                   apply=lambda rows, value: rows.filter(pending_patches__isnull=False).distinct()),
    ),
)

def _tag_detail(actor: Actor, tag: Any) -> dict[str, Any]:
    tagged = devices_for(actor=actor).filter(tags=tag)
    return {"tagged_devices": tagged[:50], "tagged_device_count": tagged.count()}


TAGS = Resource(
    slug="tags", noun="tag", title="Tags",
    rows_for=tags_with_counts_for,
    columns=(
        Column("Name", "name", "name", render=tag_label),
        Column("Description", "description"),
        Column("Devices", "devices_count", "devices_count"),
        Column("Network devices", "network_devices_count", "network_devices_count"),
        Column("Cameras", "cameras_count", "cameras_count"),
    ),
    search_fields=("name", "description"),
    default_sort="name",
    form_class=forms.TagForm,
    create=tag_services.create_tag,
    update=tag_services.update_tag,
    delete=tag_services.delete_tag,
    shared=True,
    writers=tag_services.may_define_tags,
    detail_context=_tag_detail,
    empty_hint="Tags label devices, network devices and cameras across companies (e.g. backup-server, VIP): "
               "filter lists by them and pick tagged devices in bulk.",
)

CUSTOM_FIELDS = Resource(
    slug="custom-fields", noun="customfield", title="Custom fields",
    rows_for=custom_fields_for,
    columns=(
        Column("Label", "label", "label"),
        Column("Name", "name", "name"),
        Column("For", "get_target_display", "target"),
        Column("Kind", "get_kind_display", "kind"),
        Column("Required", "required", "required"),
    ),
    search_fields=("label", "name", "description"),
    default_sort="label",
    form_class=CustomFieldForm,
    create=custom_field_services.create_custom_field,
    update=custom_field_services.update_custom_field,
    delete=custom_field_services.delete_custom_field,
    create_role=Role.ADMIN, edit_role=Role.ADMIN, shared=True, writers=is_msp_admin,
    empty_hint="Keep what Fleetwatch does not collect (account manager, backup path, BitLocker status) as fields "
               "of every company, site or device; scripts can fill device fields from their output.",
    filters=(ListFilter("target", "For", "target", static_choices(list(CustomFieldTarget.choices))),),
)

AUDIT = Resource(
    slug="audit", noun="auditevent", title="Audit log",
    rows_for=audit_events_for,
    columns=(
        Column("When", "created_at", "created_at"),
        Column("Who", "actor_label", "actor_label"),
        Column("Action", "action", "action"),
        Column("Object", "object_repr"),
        Column("From", "ip_address"),
    ),
    search_fields=("actor_label", "action", "object_repr"),
    default_sort="-created_at",
    empty_hint="Every change made in Fleetwatch is written here.",
)

CORE_RESOURCES = (COMPANIES, SITES, GROUPS, CONTACTS, DEVICES, TAGS, CUSTOM_FIELDS, AUDIT)
