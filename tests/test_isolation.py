"""Cross-tenant isolation, generated from the registries: a technician of company A never sees B.

Models come from ``portal.access.tenant_owned_models()``, pages from the dashboard's resource registry.
A new capability extends these sweeps by registering its models and resources, not by new tests.
"""

import pytest
from django.apps import apps
from django.db.models import ForeignKey, OneToOneField
from django.urls import reverse

from portal.access import ANONYMOUS, MspAdminsOnly, TenantOwned, tenant_owned_models, visible_to
from portal.pages import RESOURCES
from portal.tenancy.models import Company
from tests.conftest import logged_in
from tests.isolation_registry import DERIVED_ROW_MAKERS, OBJECT_PAGES, TENANT_ROW_MAKERS

SCOPED_RESOURCES = sorted(slug for slug, resource in RESOURCES.items() if not resource.shared)

pytestmark = pytest.mark.django_db


def _reaches_company(model, seen=frozenset()) -> bool:
    """True when a chain of foreign keys leads from ``model`` to Company (so it belongs to a tenant)."""
    if model is Company:
        return True
    for field in model._meta.get_fields():
        is_link = isinstance(field, ForeignKey | OneToOneField) and field.related_model not in seen
        if is_link and _reaches_company(field.related_model, seen | {model}):
            return True
    return False


def test_every_model_that_belongs_to_a_company_is_tenant_owned():
    project_models = [m for m in apps.get_models() if m.__module__.startswith(("portal.", "monitoring.",
                                                                                  "connectors.", "realtime."))]
    # A model only administrators of every company may see (a rollout ring naming a dynamic group) grants
    # nobody a company they could not already see, whatever it links to.
    unscoped = [m.__name__ for m in project_models if _reaches_company(m) and not issubclass(m, TenantOwned)
                and not isinstance(getattr(m, "visibility", None), MspAdminsOnly)]
    assert unscoped == []


def test_every_tenant_owned_model_is_in_the_isolation_registry():
    missing = [m.__name__ for m in tenant_owned_models() if m not in TENANT_ROW_MAKERS]
    assert missing == []


@pytest.mark.parametrize("model", tenant_owned_models(), ids=lambda m: m.__name__)
def test_scoped_actor_sees_only_its_company_rows(model, tenant_a, tenant_b, operator_a, actor_of):
    row_a = TENANT_ROW_MAKERS[model](tenant_a.company)
    row_b = TENANT_ROW_MAKERS[model](tenant_b.company)
    visible = visible_to(model._default_manager.all(), actor_of(operator_a))
    assert visible.filter(pk=row_a.pk).exists()
    assert not visible.filter(pk=row_b.pk).exists()
    assert all(row.owning_company_id == tenant_a.company.pk for row in visible)


@pytest.mark.parametrize("model", tenant_owned_models(), ids=lambda m: m.__name__)
def test_anonymous_and_empty_scopes_see_nothing(model, tenant_a, actor_of):
    from tests.factories import UserFactory

    TENANT_ROW_MAKERS[model](tenant_a.company)
    assert not visible_to(model._default_manager.all(), ANONYMOUS).exists()
    nobody = UserFactory(username="no-companies")
    assert not visible_to(model._default_manager.all(), actor_of(nobody)).exists()


def test_a_model_without_a_declared_visibility_cannot_be_read(actor_of, admin_user):
    from django.contrib.sessions.models import Session
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        visible_to(Session.objects.all(), actor_of(admin_user))


OUR_APPS = ("tenancy", "accounts", "inventory", "audit", "actions", "events", "tags", "custom_fields",
            "dynamic_groups", "policies", "patching", "monitoring", "connectors", "remote")


def test_every_model_of_ours_declares_how_it_is_seen():
    from portal.access import Visibility

    undeclared = [model.__name__ for model in apps.get_models() if model._meta.app_label in OUR_APPS
                  and not isinstance(getattr(model, "visibility", None), Visibility)]
    assert undeclared == []


def _object_of(resource, tenant):
    return {
        "companies": tenant.company, "sites": tenant.site, "groups": tenant.group, "contacts": tenant.contact,
        "devices": tenant.device,
    }.get(resource.slug) or TENANT_ROW_MAKERS[resource.rows_for(actor=None).model](tenant.company)


@pytest.mark.parametrize("slug", SCOPED_RESOURCES)
@pytest.mark.parametrize("page", ["resource-detail", "resource-edit", "resource-delete"])
def test_pages_of_another_company_answer_404(slug, page, tenant_a, tenant_b, admin_a):
    client = logged_in(admin_a)
    other = _object_of(RESOURCES[slug], tenant_b)
    assert client.get(reverse(page, args=[slug, other.pk])).status_code == 404
    if page != "resource-detail":
        assert client.post(reverse(page, args=[slug, other.pk]), {"name": "taken over"}).status_code == 404
    other.refresh_from_db()


@pytest.mark.parametrize("slug", sorted(slug for slug in SCOPED_RESOURCES if RESOURCES[slug].taggable))
def test_tagging_another_companys_object_answers_404_and_changes_nothing(slug, tenant_a, tenant_b, admin_a):
    from portal.access import system_actor
    from portal.tags.services import create_tag

    tag = create_tag(actor=system_actor(), name="taken-over")
    other = _object_of(RESOURCES[slug], tenant_b)
    response = logged_in(admin_a).post(reverse("resource-tags", args=[slug, other.pk]), {"tag": tag.pk})
    assert response.status_code == 404
    assert not other.tags.exists()


@pytest.mark.parametrize("slug", sorted(slug for slug in SCOPED_RESOURCES if RESOURCES[slug].custom_field_target))
def test_custom_values_of_another_companys_object_answer_404_and_change_nothing(slug, tenant_a, tenant_b, admin_a):
    from portal.access import system_actor
    from portal.custom_fields.services import create_custom_field

    target = RESOURCES[slug].custom_field_target
    create_custom_field(actor=system_actor(), target=target, name="owner", label="Owner")
    other = _object_of(RESOURCES[slug], tenant_b)
    client = logged_in(admin_a)
    url = reverse("resource-custom-fields", args=[slug, other.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"owner": "taken over"}).status_code == 404
    other.refresh_from_db()
    assert other.custom_fields == {}


@pytest.mark.parametrize("slug", SCOPED_RESOURCES)
def test_lists_and_searches_never_show_another_company(slug, tenant_a, tenant_b, admin_a):
    client = logged_in(admin_a)
    own = _object_of(RESOURCES[slug], tenant_a)
    other = _object_of(RESOURCES[slug], tenant_b)
    listing = client.get(reverse("resource-list", args=[slug])).content.decode()
    assert reverse("resource-detail", args=[slug, own.pk]) in listing
    assert reverse("resource-detail", args=[slug, other.pk]) not in listing
    assert "Bravo" not in listing
    searched = client.get(reverse("resource-list", args=[slug]), {"q": "Bravo"}).content.decode()
    assert reverse("resource-detail", args=[slug, other.pk]) not in searched
    assert "Nothing matches" in searched


def test_create_forms_offer_only_visible_parents(tenant_a, tenant_b, admin_a):
    client = logged_in(admin_a)
    for slug in ("sites", "contacts", "groups", "devices"):
        body = client.get(reverse("resource-create", args=[slug])).content.decode()
        assert "Bravo" not in body, slug


def test_posting_a_foreign_parent_writes_nothing(tenant_a, tenant_b, operator_a):
    from portal.tenancy.models import Site

    client = logged_in(operator_a)
    before = Site.objects.count()
    response = client.post(reverse("resource-create", args=["sites"]),
                           {"company": tenant_b.company.pk, "name": "Smuggled"})
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    assert Site.objects.count() == before


def test_overview_and_whoami_list_only_own_companies(tenant_a, tenant_b, operator_a):
    client = logged_in(operator_a)
    assert "Bravo" not in client.get(reverse("home")).content.decode()
    names = [c["name"] for c in client.get(reverse("whoami")).json()["companies"]]
    assert names == [tenant_a.company.name]


@pytest.mark.parametrize("model_name", ["company", "site", "group", "contact", "device", "auditevent"])
def test_admin_changelists_are_scoped(model_name, tenant_a, tenant_b, admin_a):
    client = logged_in(admin_a)
    app_label = {"company": "tenancy", "site": "tenancy", "group": "tenancy", "contact": "tenancy",
                 "device": "inventory", "auditevent": "audit"}[model_name]
    model = apps.get_model(app_label, model_name)
    TENANT_ROW_MAKERS[model](tenant_a.company)
    other = TENANT_ROW_MAKERS[model](tenant_b.company)
    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code == 200
    assert reverse(f"admin:{app_label}_{model_name}_change", args=[other.pk]) not in response.content.decode()
    change = client.get(reverse(f"admin:{app_label}_{model_name}_change", args=[other.pk]))
    assert change.status_code in (302, 404)  # the admin redirects "does not exist" to the index


def _pk_url_names() -> set[str]:
    from dashboard.urls import urlpatterns

    return {pattern.name for pattern in urlpatterns if "<int:pk>" in str(pattern.pattern)}


def test_every_object_page_is_registered():
    from tests.isolation_registry import OBJECT_PAGES, SHARED_LIBRARY_PAGES, USER_OWNED_PAGES

    generic = {"resource-detail", "resource-edit", "resource-delete", "resource-tags", "resource-custom-fields"}
    assert _pk_url_names() - generic <= set(OBJECT_PAGES) | USER_OWNED_PAGES | SHARED_LIBRARY_PAGES


@pytest.mark.parametrize("name", sorted(OBJECT_PAGES))
def test_object_pages_of_another_company_answer_404(name, tenant_a, tenant_b, admin_a):
    model, method = OBJECT_PAGES[name]
    other = {**TENANT_ROW_MAKERS, **DERIVED_ROW_MAKERS}[model](tenant_b.company)
    client = logged_in(admin_a)
    url = reverse(name, args=[other.pk])
    response = client.post(url) if method == "POST" else client.get(url)
    assert response.status_code == 404


# Core modules that read and write rows for the rule itself: the selectors and services, and the system
# work of the core (the agent channel's telemetry and enrollment, delivery, jobs, the event relay, the
# receivers that follow rights). Anywhere else, reads go through a selector (``visible_to``) or, for system
# code, the named ``rows_for_system``.
CORE_ROW_MODULES = {
    "portal/accounts/services.py", "portal/accounts/rights.py", "portal/accounts/signin_audit.py",
    "portal/accounts/management/commands/create_user.py", "portal/actions/delivery.py",
    "portal/actions/library.py", "portal/actions/requests.py", "portal/actions/scheduling.py",
    "portal/events/publish.py", "portal/events/relay.py", "portal/inventory/enrollment.py",
    "portal/inventory/local_agent.py", "portal/inventory/services.py", "portal/inventory/telemetry.py",
    "portal/inventory/management/commands/create_enrollment_token.py", "portal/tags/services.py",
    "portal/custom_fields/services.py", "portal/actions/output_settings.py", "portal/actions/references.py",
    "portal/inventory/updates.py", "portal/patching/evaluation.py", "portal/patching/status.py",
    "portal/patching/rollout.py", "portal/patching/results.py", "portal/patching/services.py",
    "portal/patching/tasks.py", "portal/patching/reports.py", "portal/remote/services.py",
}


def test_model_managers_are_used_only_through_the_rule():
    """No ``<OurModel>.objects`` outside the core's row modules, except as the rows handed to visible_to."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    ours = {model.__name__ for model in apps.get_models() if model._meta.app_label in OUR_APPS}
    found = []
    for package in ("portal", "dashboard", "graph", "realtime", "monitoring", "connectors"):
        for path in (repo / package).rglob("*.py"):
            relative = str(path.relative_to(repo))
            if "migrations" in path.parts or relative in CORE_ROW_MODULES or path.name in ("selectors.py", "models.py"):
                continue
            tree = ast.parse(path.read_text())
            handed_to_the_rule = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.Call)
                                  and getattr(node.func, "id", None) == "visible_to" and node.args
                                  for inner in ast.walk(node.args[0])}
            found += [f"{relative}:{node.lineno} {node.value.id}.objects" for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and node.attr == "objects"
                      and isinstance(node.value, ast.Name) and node.value.id in ours
                      and id(node) not in handed_to_the_rule]
    assert found == []
