"""GraphQL for custom fields: their definitions (the MSP's; defined by admins who see every company), the values
of a company, site or device (``customFields``, defaults included), setting them, and filtering by one."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
import strawberry_django
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Q
from graphql import GraphQLError
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.common import MAX_PAGE, NodeInput, changes_from, delete_node, sent_fields
from graph.context import actor_from
from graph.errors import DeletePayload, MutationError, NotFound, Payload, attempt, errors_of, lookup, node_pk
from graph.scoping import Visible
from portal.custom_fields import services
from portal.custom_fields.models import CustomField
from portal.custom_fields.selectors import condition, custom_fields_for, definitions_of, effective_values
from portal.inventory.selectors import devices_for
from portal.tenancy.selectors import companies_for, sites_for


@strawberry_django.filter_type(CustomField, lookups=True)
class CustomFieldFilter:
    target: auto
    kind: auto
    name: auto


@strawberry_django.type(CustomField, name="CustomField", filters=CustomFieldFilter)
class CustomFieldNode(Visible, relay.Node):
    """A field admins added to every company, site or device."""

    target: auto
    name: auto
    label: auto
    kind: auto
    choices: JSON
    required: auto
    default: JSON | None
    description: auto
    order: auto
    created_at: datetime


@strawberry.type
class CustomFieldsQuery:
    custom_fields: DjangoListConnection[CustomFieldNode] = strawberry_django.connection(max_results=MAX_PAGE)


def _definitions(info: Info, target: str) -> list[CustomField]:
    """The target's definitions, read once per operation (not once per object listed)."""
    cache = info.context.__dict__.setdefault("custom_field_definitions", {}) if hasattr(info.context, "__dict__") \
        else {}
    if target not in cache:
        cache[target] = definitions_of(target=target)
    return cache[target]


def values_of(info: Info, obj: Any, target: str) -> JSON:
    """The object's custom values by field name, defaults filled in where none was set."""
    return effective_values(fields=_definitions(info, target), obj=obj)


@strawberry.enum(description="How a custom field's value is compared (its default counts where none is set).")
class CustomFieldOp(Enum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    GT = "gt"
    CONTAINS = "contains"
    EMPTY = "empty"


@strawberry.input(description="A condition on one custom field: e.g. {name: \"backup_age\", op: GT, value: 7}.")
class CustomFieldCondition:
    name: str
    op: CustomFieldOp = CustomFieldOp.EQ
    value: JSON | None = None


def custom_field_filter(target: str, value: CustomFieldCondition, prefix: str) -> Q:
    """The database condition of ``value``; an unknown field or a value it cannot take is the caller's error."""
    field = next((f for f in definitions_of(target=target) if f.name == value.name), None)
    if field is None:
        raise GraphQLError(f"No custom field “{value.name[:50]}” for {target}s.")
    try:
        return condition(field=field, op=value.op.value, value=value.value, prefix=prefix)
    except ValidationError as error:
        raise GraphQLError(" ".join(error.messages)) from None


@strawberry.input(description="Custom values of one company, site or device by field name; null or \"\" clears one. "
                              "Fields not named keep their value.")
class SetCustomFieldsInput:
    id: relay.GlobalID
    values: JSON


@strawberry.type
class SetCustomFieldsPayload:
    custom_fields: JSON | None = strawberry.field(default=None, description="The values after the change.")
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry_django.input(CustomField)
class CustomFieldCreateInput:
    target: auto
    name: auto
    label: auto
    kind: auto = "text"
    choices: list[str] | None = None
    required: auto = False
    default: JSON | None = None
    description: auto = ""
    order: auto = 0


@strawberry_django.partial(CustomField)
class CustomFieldUpdateInput:
    id: relay.GlobalID
    label: auto
    choices: list[str] | None = strawberry.UNSET
    required: auto
    default: JSON | None = strawberry.UNSET
    description: auto
    order: auto


OWNERS = {"Company": companies_for, "Site": sites_for, "Device": devices_for}


@strawberry.type
class CustomFieldsMutation:
    @strawberry.mutation(description="Add a custom field to every company, site or device (admins who see every "
                                     "company).")
    def create_custom_field(self, info: Info, input: CustomFieldCreateInput) -> Payload[CustomFieldNode]:
        node, errors = attempt(lambda: services.create_custom_field(actor=actor_from(info), **sent_fields(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Relabel a custom field or change its options, default or rules (admins who "
                                     "see every company). Its target, name and kind never change.")
    def update_custom_field(self, info: Info, input: CustomFieldUpdateInput) -> Payload[CustomFieldNode]:
        actor = actor_from(info)
        changes = changes_from(input)
        if changes.get("default") == "":
            changes["default"] = None  # null clears the default
        if changes.get("choices") == "":
            changes["choices"] = []
        node, errors = attempt(lambda: services.update_custom_field(
            actor=actor, customfield=lookup(custom_fields_for(actor=actor), input.id, type_name="CustomField"),
            **changes))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a custom field and its value on every object (admins who see every "
                                     "company).")
    def delete_custom_field(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=custom_fields_for, type_name="CustomField",
                           delete=services.delete_custom_field, noun="customfield", global_id=input.id)

    @strawberry.mutation(description="Set custom values of a company (admins), a site or a device (operators). "
                                     "Each value is checked by its field: a number field refuses \"abc\".")
    def set_custom_fields(self, info: Info, input: SetCustomFieldsInput) -> SetCustomFieldsPayload:
        actor = actor_from(info)
        type_name = input.id.type_name
        if type_name not in OWNERS or node_pk(input.id, type_name=type_name) is None:
            return SetCustomFieldsPayload(errors=errors_of(NotFound("id")))
        if not isinstance(input.values, dict):
            return SetCustomFieldsPayload(errors=[MutationError(field="values", code="invalid",
                                                                message="Give an object of field name → value.")])

        try:
            obj = lookup(OWNERS[type_name](actor=actor), input.id, type_name=type_name)
            services.set_custom_values(actor=actor, obj=obj, values=input.values)
        except ValidationError as error:
            # A refused value is named ``values.<field name>``, the name as defined.
            by_field = error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}
            return SetCustomFieldsPayload(errors=[
                MutationError(field=None if name == NON_FIELD_ERRORS else f"values.{name}", message=message,
                              code="invalid") for name, messages in by_field.items() for message in messages])
        except (NotFound, ObjectDoesNotExist, PermissionDenied) as error:
            return SetCustomFieldsPayload(errors=errors_of(error))
        return SetCustomFieldsPayload(custom_fields=obj.custom_fields)
