"""Dashboard pages: one generic set of list/detail/create/edit/delete views over the resources."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from dashboard.custom_field_views import custom_field_filters, custom_fields_context
from dashboard.forms import APITokenForm, ScopedModelForm, TimeZoneForm
from dashboard.overview import fleet_overview
from dashboard.tag_views import tag_editor
from portal.access import Actor, require_role
from portal.accounts import services as account_services
from portal.accounts.selectors import api_tokens_of, table_columns_of
from portal.listing import build_listing
from portal.pages import RESOURCES, Column, Resource, redirect_to
from portal.tags.selectors import tags_for


def _resource(slug: str) -> Resource:
    try:
        return RESOURCES[slug]
    except KeyError as missing:
        raise Http404("No such page.") from missing


def _require_writer(request: HttpRequest, resource: Resource, *, create: bool = False) -> None:
    require_role(request.actor, resource.create_role if create else resource.edit_role)
    if not (resource.may_create(request.actor) if create else resource.may_edit(request.actor)):
        raise PermissionDenied(f"{resource.title} belong to the whole MSP: changing them needs an admin who sees "
                               "all companies.")


def shown_columns(actor: Actor, resource: Resource) -> tuple[Column, ...]:
    """The columns the actor shows in the resource's list: their choice (the first, the record's name, always
    first), or all of them."""
    first, *others = resource.columns
    chosen = table_columns_of(actor=actor, table=resource.slug)
    if not chosen:
        return resource.columns
    by_label = {column.label: column for column in others}
    return (first, *(by_label[label] for label in chosen if label in by_label))


def row_cells(resource: Resource, obj: Any, columns: tuple[Column, ...] | None = None) -> list[Any]:
    """The values a list page shows for one row (also pushed live by the dashboard socket)."""
    return [column.render(obj) if column.render else _cell(obj, column.attribute)
            for column in (columns or resource.columns)]


def _cell(obj: Any, attribute: str) -> Any:
    value = obj
    for part in attribute.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value() if callable(value) else value


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html", fleet_overview(actor=request.actor))


@login_required
@require_http_methods(["GET"])
def resource_list(request: HttpRequest, slug: str) -> HttpResponse:
    resource = _resource(slug)
    rows = resource.rows(request.actor)
    if resource.taggable:
        rows = rows.prefetch_related("tags")
    filters = []
    custom = custom_field_filters(request.actor, resource.custom_field_target) if resource.custom_field_target else []
    for list_filter in (*resource.filters, *custom):
        choices = list_filter.choices_for(request.actor) if list_filter.choices_for else None
        chosen = request.GET.get(list_filter.name, "").strip()
        refused = ""
        if list_filter.typed:
            allowed = 0 < len(chosen) <= 200
        else:
            allowed = chosen.isdigit() if choices is None else chosen in {value for value, _ in choices}
        if chosen and allowed:  # anything else is ignored, never trusted
            try:
                rows = list_filter.apply(rows, chosen) if list_filter.apply else rows.filter(
                    **{list_filter.lookup: chosen})
            except ValidationError as error:
                refused = " ".join(error.messages)
        elif not list_filter.typed:
            chosen = ""
        filters.append({"filter": list_filter, "choices": choices, "chosen": chosen, "refused": refused})
    dates = _date_range(request, resource)
    if dates:
        rows = rows.filter(**dates)
    listing = build_listing(rows, params=request.GET, search_fields=resource.search_fields,
                            sort_keys=resource.sort_keys, default_sort=resource.default_sort)
    columns = shown_columns(request.actor, resource)
    context = {
        "resource": resource,
        "listing": listing,
        "columns": columns,
        "column_choices": _column_choices(resource, columns),
        "rows": [(obj, row_cells(resource, obj, columns)) for obj in listing.page],
        "filters": filters,
        "date_range": {"since": request.GET.get("since", ""), "until": request.GET.get("until", "")}
        if resource.date_filter else None,
        "can_create": resource.may_create(request.actor),
        "bulk_tags": tags_for(actor=request.actor) if resource.selectable else None,
    }
    # Search, sort and paging swap the table only; a full load renders the page around it.
    template = "web/partials/_table.html" if request.htmx and not request.htmx.boosted else "web/list.html"
    return render(request, template, context)


def _column_choices(resource: Resource, shown: tuple[Column, ...]) -> list[tuple[str, bool, int]]:
    """(label, shown, position) of every column but the first, shown ones first in their order."""
    positions = {column.label: place for place, column in enumerate(shown)}
    others = sorted(resource.columns[1:], key=lambda column: positions.get(column.label, 1000))
    return [(column.label, column.label in positions, place) for place, column in enumerate(others, start=1)]


@login_required
@require_POST
def table_columns(request: HttpRequest, slug: str) -> HttpResponse:
    """Keep the columns (shown or not, and their order) the user wants in a list."""
    resource = _resource(slug)
    allowed = [column.label for column in resource.columns[1:]]
    shown = set(request.POST.getlist("shown"))

    def position(label: str) -> int:
        raw = request.POST.get(f"position-{label}", "")
        return int(raw) if raw.isdigit() else 1000

    chosen = sorted((label for label in allowed if label in shown), key=lambda label: (position(label),
                                                                                     allowed.index(label)))
    if request.POST.get("op") == "reset":
        chosen = allowed
    account_services.set_table_columns(actor=request.actor, table=slug, columns=chosen, allowed=allowed)
    return redirect_to(request, reverse("resource-list", args=[slug]))


def _date_range(request: HttpRequest, resource: Resource) -> dict[str, Any]:
    """``?since=`` and ``?until=`` (YYYY-MM-DD, both days included) on the resource's date field."""
    if resource.date_filter is None:
        return {}
    lookups = {}
    for name, lookup in (("since", "date__gte"), ("until", "date__lte")):
        try:
            lookups[f"{resource.date_filter}__{lookup}"] = date.fromisoformat(request.GET.get(name, ""))
        except ValueError:
            continue  # empty or malformed: not applied
    return lookups


@login_required
@require_http_methods(["GET"])
def resource_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resource = _resource(slug)
    obj = get_object_or_404(resource.rows(request.actor), pk=pk)
    context = {
        "resource": resource,
        "object": obj,
        "fields": [(f.verbose_name, _display(obj, f)) for f in obj._meta.concrete_fields
                   if f.name not in {"id", "external_ids", "custom_fields", *resource.hidden_fields}],
        "can_edit": resource.update is not None and resource.may_edit(request.actor),
        "can_delete": resource.delete is not None and resource.may_edit(request.actor),
        **(tag_editor(request.actor, obj) if resource.taggable else {}),
        **(custom_fields_context(request.actor, obj, resource.custom_field_target)
           if resource.custom_field_target else {}),
        **(resource.detail_context(request.actor, obj, request.GET) if resource.detail_reads_query
           else resource.detail_context(request.actor, obj)),
    }
    return render(request, [f"web/{resource.noun}_detail.html", "web/detail.html"], context)


def _display(obj: Any, model_field: Any) -> Any:
    display = getattr(obj, f"get_{model_field.name}_display", None)
    if display is not None:
        return display()
    return getattr(obj, model_field.name)


@login_required
@require_http_methods(["GET", "POST"])
def resource_create(request: HttpRequest, slug: str) -> HttpResponse:
    resource = _resource(slug)
    if resource.create is None or resource.form_class is None:
        raise Http404("This cannot be created here.")
    _require_writer(request, resource, create=True)
    if request.method == "POST":
        form = resource.form_class(request.POST, actor=request.actor)
        if form.is_valid():
            obj = _call_service(form, lambda: resource.create(actor=request.actor, **form.service_arguments()))
            if obj is not None:
                return redirect_to(request, reverse("resource-detail", args=[slug, obj.pk]))
    else:
        initial = {name: request.GET[name] for name in resource.parent_fields if request.GET.get(name)}
        if resource.initial_from_query is not None:
            initial.update(resource.initial_from_query(request.GET))
        form = resource.form_class(actor=request.actor, initial=initial)
    return _render_form(request, resource, form, title=f"New {resource.noun}")


@login_required
@require_http_methods(["GET", "POST"])
def resource_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resource = _resource(slug)
    obj = get_object_or_404(resource.rows(request.actor), pk=pk)
    if resource.update is None or resource.form_class is None:
        raise Http404("This cannot be edited here.")
    _require_writer(request, resource)
    if request.method == "POST":
        # Bind to a fresh copy so a failed save leaves the shown object untouched.
        form = resource.form_class(request.POST, instance=type(obj).objects.get(pk=obj.pk), actor=request.actor)
        if form.is_valid():
            changes = form.service_arguments()
            updated = _call_service(
                form, lambda: resource.update(actor=request.actor, **{resource.noun: obj}, **changes))
            if updated is not None:
                return redirect_to(request, reverse("resource-detail", args=[slug, obj.pk]))
    else:
        form = resource.form_class(instance=obj, actor=request.actor)
    return _render_form(request, resource, form, title=f"Edit {obj}", obj=obj)


def _call_service(form: ScopedModelForm, call: Any) -> Any:
    """Run a write service; its validation errors land on the form instead of becoming a 500."""
    try:
        return call()
    except ValidationError as error:
        attach_errors(form, error)
    except ObjectDoesNotExist:
        form.add_error(None, "Something this form refers to no longer exists or is not yours to use.")
    return None


def attach_errors(form: ScopedModelForm, error: ValidationError) -> None:
    """Put each error on its field when the form shows that field, otherwise above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, messages in error.error_dict.items():
        form.add_error(name if name in form.fields else None, messages)


def _render_form(request: HttpRequest, resource: Resource, form: ScopedModelForm, *, title: str,
                 obj: Any = None) -> HttpResponse:
    context = {"resource": resource, "form": form, "title": title, "object": obj}
    template = "web/partials/_form.html" if request.htmx else "web/form.html"
    status = 422 if form.is_bound and form.errors and not request.htmx else 200
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def resource_delete(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resource = _resource(slug)
    obj = get_object_or_404(resource.rows(request.actor), pk=pk)
    if resource.delete is None:
        raise Http404("This cannot be deleted here.")
    _require_writer(request, resource)
    if request.method == "POST":
        resource.delete(actor=request.actor, **{resource.noun: obj})
        return redirect_to(request, reverse("resource-list", args=[slug]))
    return render(request, "web/confirm_delete.html", {"resource": resource, "object": obj})


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The user's own API tokens: create one (its value shown once), see when each was last used."""
    issued = None
    form = APITokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            issued = account_services.create_api_token(actor=request.actor, name=form.cleaned_data["name"],
                                                       expires_at=expires_at)
            form = APITokenForm()
        except ValidationError as error:
            form.add_error(None, error)
    context = {"tokens": api_tokens_of(actor=request.actor), "form": form, "issued": issued}
    return render(request, "web/api_tokens.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own preferences: the time zone the dashboard shows times in."""
    form = TimeZoneForm(request.POST or None, initial={"time_zone": request.user.time_zone})
    saved = False
    if request.method == "POST" and form.is_valid():
        try:
            account_services.set_own_time_zone(actor=request.actor, time_zone=form.cleaned_data["time_zone"])
            saved = True
        except ValidationError as error:
            form.add_error(None, error)
    return render(request, "web/account.html", {"form": form, "saved": saved})


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(api_tokens_of(actor=request.actor), pk=pk)
    account_services.revoke_api_token(actor=request.actor, token=token)
    return redirect_to(request, reverse("api-tokens"))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if isinstance(exception, PermissionDenied) and str(exception) else (
        "Your role does not allow this.")
    return render(request, "web/error.html", {"title": "Not allowed", "message": message}, status=403)
