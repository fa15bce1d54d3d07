"""Writes of tags: defining them (the MSP's shared list) and putting them on or off objects.

Defining a tag (create, rename, recolour, delete) is for operators who see every company: the names are
shared by the whole MSP, and deleting one takes it off every company's objects. Putting a tag on an object
is an edit of that object: an operator of the object's company may do it. Each object whose tags change is
audited (``<noun>.tags_changed``, the names before and after) and announced as updated.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction

from portal.access import Actor, Role, ensure_visible, require_role
from portal.audit.services import audit_event
from portal.bulk_insert import insert_new
from portal.events.publish import batched_publishing, publish
from portal.tags.models import Tag, TagColour
from portal.writes import delete_row, save_changed_fields, save_new

TAG_FIELDS = ("name", "colour", "description")
# One request tags at most this many objects (a list page's selection is at most 100; GraphQL callers page).
MAX_OBJECTS_AT_ONCE = 1000


def may_define_tags(actor: Actor) -> bool:
    """Operators (and admins) who see every company define the MSP's tags."""
    return actor.has_role(Role.OPERATOR) and actor.sees_all_companies


def _require_tag_definer(actor: Actor) -> None:
    require_role(actor, Role.OPERATOR)
    if not actor.sees_all_companies:
        raise PermissionDenied("Tags are shared by the whole MSP: defining them needs an operator who sees all "
                               "companies. You can put existing tags on your companies' devices.")


def _tidy(name: Any) -> Any:
    return " ".join(name.split()) if isinstance(name, str) else name


@transaction.atomic
def create_tag(*, actor: Actor, name: str, colour: str = TagColour.SLATE, description: str = "") -> Tag:
    """Add a tag to the MSP's list."""
    _require_tag_definer(actor)
    return save_new(actor=actor, instance=Tag(name=_tidy(name), colour=colour or TagColour.SLATE,
                                              description=description))


@transaction.atomic
def update_tag(*, actor: Actor, tag: Tag, **changes: Any) -> Tag:
    """Rename, recolour or describe a tag (every object carrying it shows the change)."""
    _require_tag_definer(actor)
    if "name" in changes:
        changes["name"] = _tidy(changes["name"])
    save_changed_fields(actor=actor, instance=tag, changes=changes, editable=TAG_FIELDS)
    return tag


@transaction.atomic
def delete_tag(*, actor: Actor, tag: Tag) -> None:
    """Delete a tag; it comes off every object that carried it."""
    _require_tag_definer(actor)
    delete_row(actor=actor, instance=tag)


def _tag_relation(model: type[models.Model]) -> tuple[type[models.Model], str]:
    """The through model of ``model.tags`` and the name of its column pointing at ``model``."""
    try:
        field = model._meta.get_field("tags")
    except Exception as missing:
        raise ValueError(f"{model.__name__} cannot carry tags.") from missing
    if not isinstance(field, models.ManyToManyField) or field.related_model is not Tag:
        raise ValueError(f"{model.__name__} cannot carry tags.")
    return field.remote_field.through, f"{field.m2m_field_name()}_id"


@transaction.atomic
def change_tags(*, actor: Actor, objects: Sequence[Any], add: Iterable[Tag] = (),
                remove: Iterable[Tag] = ()) -> int:
    """Put the ``add`` tags on ``objects`` (all of one model: devices, network devices or cameras) and take
    the ``remove`` tags off. Returns how many objects changed; an object that already had exactly that is
    neither written nor audited."""
    require_role(actor, Role.OPERATOR)
    add_tags, remove_tags = {tag.pk: tag for tag in add}, {tag.pk: tag for tag in remove}
    both = set(add_tags) & set(remove_tags)
    if both:
        raise ValidationError(f"A tag cannot be added and removed at once: {add_tags[min(both)].name}.")
    objects = list({(type(obj), obj.pk): obj for obj in objects}.values())
    for obj in objects:
        ensure_visible(actor=actor, company_id=obj.owning_company_id)
    if not objects or not (add_tags or remove_tags):
        return 0
    if len(objects) > MAX_OBJECTS_AT_ONCE:
        raise ValidationError(f"Tag at most {MAX_OBJECTS_AT_ONCE} objects at once ({len(objects)} given).")
    model = type(objects[0])
    if any(type(obj) is not model for obj in objects):
        raise ValueError("Tag objects of one kind at a time.")
    through, column = _tag_relation(model)

    carried: dict[int, set[int]] = defaultdict(set)
    for object_id, tag_id in through.objects.filter(**{f"{column}__in": [obj.pk for obj in objects]}) \
            .values_list(column, "tag_id"):
        carried[object_id].add(tag_id)
    names = dict(Tag.objects.filter(pk__in={tag_id for ids in carried.values() for tag_id in ids})
                 .values_list("pk", "name"))
    names.update({pk: tag.name for pk, tag in {**add_tags, **remove_tags}.items()})

    changed, new_links, audits = [], [], []
    noun = model._meta.model_name
    for obj in objects:
        before = carried[obj.pk]
        after = (before | set(add_tags)) - set(remove_tags)
        if after == before:
            continue
        changed.append(obj)
        new_links += [through(**{column: obj.pk, "tag_id": tag_id}) for tag_id in after - before]
        audits.append(audit_event(actor=actor, action=f"{noun}.tags_changed", target=obj,
                                  company_id=obj.owning_company_id,
                                  before={"tags": sorted(names[pk] for pk in before)},
                                  after={"tags": sorted(names[pk] for pk in after)}))
    if not changed:
        return 0
    if remove_tags:
        through.objects.filter(**{f"{column}__in": [obj.pk for obj in changed]},
                               tag_id__in=list(remove_tags)).delete()
    through.objects.bulk_create(new_links, ignore_conflicts=True)
    insert_new(audits)
    with batched_publishing():
        for obj in changed:
            publish(f"{noun}.updated", company_id=obj.owning_company_id, id=obj.pk)
    return len(changed)


@transaction.atomic
def set_tags(*, actor: Actor, obj: Any, tags: Iterable[Tag]) -> bool:
    """Make ``tags`` exactly the tags of ``obj``. Returns whether anything changed."""
    through, column = _tag_relation(type(obj))
    wanted = {tag.pk: tag for tag in tags}
    carried = set(through.objects.filter(**{column: obj.pk}).values_list("tag_id", flat=True))
    return bool(change_tags(actor=actor, objects=[obj], add=[tag for pk, tag in wanted.items() if pk not in carried],
                            remove=list(Tag.objects.filter(pk__in=carried - set(wanted)))))
