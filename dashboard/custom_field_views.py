"""Custom fields on the pages: the definitions' form, the values card and form of a company, site or device,
and the list filters each choice or yes/no field adds to its list."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from dashboard.action_forms import LinesField
from portal.access import Actor
from portal.custom_fields.models import CustomField, CustomFieldKind
from portal.custom_fields.selectors import condition, fields_of, shown_values
from portal.custom_fields.services import EDIT_ROLE, set_custom_values
from portal.forms import ScopedModelForm
from portal.pages import RESOURCES, ListFilter, redirect_to


class CustomFieldForm(ScopedModelForm):
    """A field's definition; its target, name and kind are chosen once."""

    create_only_fields = ("target", "name", "kind")
    choices = LinesField(required=False, help_text="For choice fields: one option per line.")
    default = forms.CharField(required=False, max_length=1000,
                              help_text="Optional; typed as the field is (a number, yes/no, YYYY-MM-DD, an option; "
                                        "several options separated by commas).")

    class Meta:
        model = CustomField
        fields = ["target", "name", "label", "kind", "choices", "required", "default", "description", "order"]

    def service_arguments(self) -> dict[str, Any]:
        arguments = super().service_arguments()
        arguments["default"] = arguments.get("default") or None
        return arguments

    def _post_clean(self) -> None:
        # The model turns the typed default into its kind (or says why it cannot).
        if "default" in self.cleaned_data:
            self.cleaned_data["default"] = self.cleaned_data["default"] or None
        super()._post_clean()


def custom_fields_context(actor: Actor, obj: Any, target: str) -> dict[str, Any]:
    """The values card of a detail page."""
    fields = fields_of(actor=actor, target=target)
    return {"custom_values": shown_values(fields=fields, obj=obj),
            "can_edit_custom_values": bool(fields) and actor.has_role(EDIT_ROLE[target])}


def custom_field_filters(actor: Actor, target: str) -> list[ListFilter]:
    """A select above the list for each choice, several-choice and yes/no field (``?cf_<name>=<value>``)."""
    filters = []
    for field in fields_of(actor=actor, target=target):
        if field.kind == CustomFieldKind.BOOLEAN:
            options = [("true", "Yes"), ("false", "No")]
        elif field.kind in (CustomFieldKind.CHOICE, CustomFieldKind.MULTI_CHOICE):
            options = [(option, option) for option in field.choices]
        else:  # text (contains), number and date (equal): typed into a box
            operator = "contains" if field.kind == CustomFieldKind.TEXT else "eq"
            filters.append(ListFilter(
                f"cf_{field.name}", field.label, "", None, typed=True,
                apply=lambda rows, value, field=field, op=operator: rows.filter(condition(field=field, op=op,
                                                                                          value=value))))
            continue
        filters.append(ListFilter(
            f"cf_{field.name}", field.label, "", lambda _actor, options=options: options,
            apply=lambda rows, value, field=field: rows.filter(condition(field=field, op="eq", value=value))))
    return filters


def _value_field(field: CustomField, required: bool) -> forms.Field:
    common = {"label": field.label, "help_text": field.description, "required": required}
    if field.kind == CustomFieldKind.BOOLEAN:
        return forms.TypedChoiceField(choices=[("", "—"), ("true", "Yes"), ("false", "No")], **common)
    if field.kind == CustomFieldKind.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if field.kind == CustomFieldKind.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *((o, o) for o in field.choices)], **common)
    if field.kind == CustomFieldKind.MULTI_CHOICE:
        return forms.MultipleChoiceField(choices=[(o, o) for o in field.choices], widget=forms.CheckboxSelectMultiple,
                                         **common)
    if field.kind == CustomFieldKind.TEXT:
        return forms.CharField(max_length=1000, **common)
    return forms.CharField(max_length=40, **common)  # numbers are checked by the field's definition


class CustomValuesForm(forms.Form):
    """One input per defined field; the service checks every value by its definition."""

    def __init__(self, *args: Any, fields: list[CustomField], obj: Any, **kwargs: Any) -> None:
        stored = obj.custom_fields or {}
        initial = {}
        for field in fields:
            value = stored.get(field.name)
            initial[field.name] = ("true" if value else "false") if isinstance(value, bool) else value
        super().__init__(*args, initial=initial, **kwargs)
        for field in fields:
            self.fields[field.name] = _value_field(field, required=field.required and field.default is None)


@login_required
@require_http_methods(["GET", "POST"])
def custom_values_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    resource = RESOURCES.get(slug)
    if resource is None or not resource.custom_field_target:
        raise Http404("No such page.")
    obj = get_object_or_404(resource.rows(request.actor), pk=pk)
    fields = fields_of(actor=request.actor, target=resource.custom_field_target)
    form = CustomValuesForm(request.POST or None, fields=fields, obj=obj)
    if request.method == "POST" and form.is_valid():
        try:
            set_custom_values(actor=request.actor, obj=obj, values=form.cleaned_data)
            return redirect_to(request, reverse("resource-detail", args=[slug, obj.pk]))
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                form.add_error(name if name in form.fields else None, messages)
    context = {"resource": resource, "form": form, "title": f"Custom fields of {obj}", "object": obj}
    template = "web/partials/_form.html" if request.htmx else "web/form.html"
    return render(request, template, context, status=422 if form.errors and not request.htmx else 200)
