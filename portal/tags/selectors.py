"""Reads of tags. The names are the MSP's (everyone signed in sees them); what carries a tag, and how many,
is counted only among the objects the actor may see."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from portal.access import Actor, visible_to
from portal.tags.models import Tag


def tags_for(*, actor: Actor) -> QuerySet[Tag]:
    return visible_to(Tag.objects.all(), actor)


def _tagged_relations() -> list:
    """Every model that carries tags, found from the tag's side (features add theirs; the core never
    imports them)."""
    return [relation for relation in Tag._meta.related_objects if relation.many_to_many]


def tags_with_counts_for(*, actor: Actor) -> QuerySet[Tag]:
    """Tags annotated ``<related name>_count`` (``devices_count``, ``cameras_count``…): how many of the
    objects the actor sees carry each."""
    counts = {}
    for relation in _tagged_relations():
        through, column = relation.through, f"{relation.field.m2m_field_name()}_id"
        seen = visible_to(relation.related_model._default_manager.all(), actor).values("pk")
        links = (through.objects.filter(tag_id=OuterRef("pk"), **{f"{column}__in": seen})
                 .order_by().values("tag_id").annotate(n=Count("pk")).values("n"))
        counts[f"{relation.get_accessor_name()}_count"] = Coalesce(Subquery(links, output_field=IntegerField()),
                                                                   Value(0))
    return tags_for(actor=actor).annotate(**counts)


def tag_choices(actor: Actor) -> list[tuple[str, str]]:
    """(id, name) of every tag, for filters and pickers."""
    return [(str(pk), name) for pk, name in tags_for(actor=actor).values_list("pk", "name")[:500]]


def carrying(model: type, *, tag_id: int | None) -> QuerySet:
    """The ids of ``model`` rows (devices, network devices, cameras) that carry the tag ``tag_id``: for a
    filter ``pk__in=carrying(...)``, which lists each row once whatever else it carries. Narrows rows the
    caller already scoped; never shown by itself."""
    field = model._meta.get_field("tags")
    return field.remote_field.through._default_manager.filter(tag_id=tag_id).values(f"{field.m2m_field_name()}_id")
