"""GraphQL for tags: the MSP's list (read by everyone signed in, defined by operators who see every company)
and putting tags on devices, network devices and cameras."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import strawberry
import strawberry_django
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from strawberry import auto, relay
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.common import MAX_PAGE, NodeInput, changes_from, delete_node, sent_fields, words_matching
from graph.context import actor_from
from graph.errors import DeletePayload, MutationError, NotFound, Payload, attempt, lookup, node_pk
from graph.scoping import Visible
from monitoring.selectors import cameras_for, network_devices_for
from portal.inventory.selectors import devices_for
from portal.tags import services
from portal.tags.models import Tag
from portal.tags.selectors import carrying, tags_for


def tag_filter(model: type, value: relay.GlobalID, prefix: str) -> Q:
    """Rows carrying the tag (each listed once); an id of another type, or of nothing, matches nothing."""
    return Q(**{f"{prefix}pk__in": carrying(model, tag_id=node_pk(value, type_name="Tag"))})


@strawberry_django.filter_type(Tag, lookups=True)
class TagFilter:
    name: auto
    colour: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        """Every word appears in the name or the description."""
        return words_matching(value, "name", "description", prefix=prefix)


@strawberry_django.order_type(Tag)
class TagOrder:
    name: auto
    created_at: auto


@strawberry_django.type(Tag, name="Tag", filters=TagFilter, ordering=TagOrder)
class TagNode(Visible, relay.Node):
    """A label of the MSP's (name and colour) on devices, network devices and cameras."""

    name: auto
    colour: auto
    description: auto
    created_at: datetime
    updated_at: datetime

    @strawberry_django.field(description="How many of the devices you may see carry this tag.")
    def device_count(self, info: Info) -> int:
        rows = devices_for(actor=actor_from(info))
        return rows.filter(pk__in=carrying(rows.model, tag_id=self.pk)).count()

    @strawberry_django.field(description="How many of the network devices you may see carry this tag.")
    def network_device_count(self, info: Info) -> int:
        rows = network_devices_for(actor=actor_from(info))
        return rows.filter(pk__in=carrying(rows.model, tag_id=self.pk)).count()

    @strawberry_django.field(description="How many of the cameras you may see carry this tag.")
    def camera_count(self, info: Info) -> int:
        rows = cameras_for(actor=actor_from(info))
        return rows.filter(pk__in=carrying(rows.model, tag_id=self.pk)).count()


@strawberry.type
class TagsQuery:
    tags: DjangoListConnection[TagNode] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry_django.input(Tag)
class TagCreateInput:
    name: auto
    colour: auto = "slate"
    description: auto = ""


@strawberry_django.partial(Tag)
class TagUpdateInput:
    id: relay.GlobalID
    name: auto
    colour: auto
    description: auto


@strawberry.input(description="Put tags on objects of one kind (devices, network devices or cameras) and take "
                              "others off. At most 1,000 objects at once.")
class ChangeTagsInput:
    objects: list[relay.GlobalID]
    add: list[relay.GlobalID] = strawberry.field(default_factory=list)
    remove: list[relay.GlobalID] = strawberry.field(default_factory=list)


@strawberry.input(description="Make these tags exactly the tags of one object.")
class SetTagsInput:
    id: relay.GlobalID
    tags: list[relay.GlobalID]


@strawberry.type
class ChangeTagsPayload:
    changed: int = strawberry.field(default=0, description="How many objects' tags changed.")
    errors: list[MutationError] = strawberry.field(default_factory=list)


TAGGABLE: dict[str, Callable[..., QuerySet]] = {
    "Device": devices_for, "NetworkDevice": network_devices_for, "Camera": cameras_for,
}


def _objects(actor, ids: list[relay.GlobalID]) -> list:
    """The objects named, read through the caller's scope; all of one taggable type."""
    if not ids:
        return []
    if len(ids) > services.MAX_OBJECTS_AT_ONCE:
        raise ValidationError({"objects": f"At most {services.MAX_OBJECTS_AT_ONCE} objects at once."})
    type_name = ids[0].type_name
    rows_for = TAGGABLE.get(type_name)
    pks = {node_pk(global_id, type_name=type_name) for global_id in ids}
    if rows_for is None or None in pks:
        raise NotFound("objects")
    found = list(rows_for(actor=actor).filter(pk__in=pks))
    if len(found) != len(pks):
        raise NotFound("objects")
    return found


def _tags(actor, ids: list[relay.GlobalID], *, field: str) -> list[Tag]:
    pks = {node_pk(global_id, type_name="Tag") for global_id in ids}
    found = list(tags_for(actor=actor).filter(pk__in=pks - {None}))
    if None in pks or len(found) != len(pks):
        raise NotFound(field)
    return found


@strawberry.type
class TagsMutation:
    @strawberry.mutation(description="Add a tag to the MSP's list (operators who see every company).")
    def create_tag(self, info: Info, input: TagCreateInput) -> Payload[TagNode]:
        node, errors = attempt(lambda: services.create_tag(actor=actor_from(info), **sent_fields(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Rename, recolour or describe a tag (operators who see every company).")
    def update_tag(self, info: Info, input: TagUpdateInput) -> Payload[TagNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_tag(
            actor=actor, tag=lookup(tags_for(actor=actor), input.id, type_name="Tag"), **changes_from(input)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a tag; it comes off every object (operators who see every company).")
    def delete_tag(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=tags_for, type_name="Tag", delete=services.delete_tag, noun="tag",
                           global_id=input.id)

    @strawberry.mutation(description="Put tags on objects and take others off (operators of their companies).")
    def change_tags(self, info: Info, input: ChangeTagsInput) -> ChangeTagsPayload:
        actor = actor_from(info)
        changed, errors = attempt(lambda: services.change_tags(
            actor=actor, objects=_objects(actor, input.objects), add=_tags(actor, input.add, field="add"),
            remove=_tags(actor, input.remove, field="remove")))
        return ChangeTagsPayload(changed=changed or 0, errors=errors)

    @strawberry.mutation(description="Make the given tags exactly an object's tags (operators of its company).")
    def set_tags(self, info: Info, input: SetTagsInput) -> ChangeTagsPayload:
        actor = actor_from(info)
        changed, errors = attempt(lambda: services.set_tags(
            actor=actor, obj=_objects(actor, [input.id])[0], tags=_tags(actor, input.tags, field="tags")))
        return ChangeTagsPayload(changed=int(bool(changed)), errors=errors)
