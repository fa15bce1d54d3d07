"""Tags on the pages: the editor on a taggable object's page, and tagging the devices picked in the list."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from portal.access import Actor, Role
from portal.inventory.selectors import devices_for
from portal.pages import RESOURCES, redirect_to
from portal.tags.selectors import tags_for
from portal.tags.services import change_tags, may_define_tags, set_tags


def tag_editor(actor: Actor, obj: Any) -> dict[str, Any]:
    """What a taggable object's page shows: its tags and, for operators, every tag to pick from."""
    return {"object_tags": list(obj.tags.all()),
            "tag_choices": list(tags_for(actor=actor)) if actor.has_role(Role.OPERATOR) else None,
            "may_define_tags": may_define_tags(actor)}


def _ids(values: list[str]) -> list[int]:
    return [int(value) for value in values if value.isdigit() and len(value) < 19]


@login_required
@require_POST
def object_tags(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Make the ticked tags exactly the object's tags."""
    resource = RESOURCES.get(slug)
    if resource is None or not resource.taggable:
        raise Http404("No such page.")
    obj = get_object_or_404(resource.rows(request.actor), pk=pk)
    tags = list(tags_for(actor=request.actor).filter(pk__in=_ids(request.POST.getlist("tag"))))
    if set_tags(actor=request.actor, obj=obj, tags=tags):
        messages.success(request, f"Tags of {obj} saved.")
    return redirect_to(request, reverse("resource-detail", args=[slug, obj.pk]))


@login_required
@require_POST
def device_selection(request: HttpRequest) -> HttpResponse:
    """The devices ticked in the list: run an action on them, or put a tag on or off them."""
    device_ids = _ids(request.POST.getlist("device"))
    operation = request.POST.get("op", "")
    if operation == "run":
        return redirect_to(request, f"{reverse('action-new')}?{urlencode([('device', pk) for pk in device_ids])}")
    back = request.POST.get("next", "")
    if not (back.startswith("/devices/") and url_has_allowed_host_and_scheme(back, allowed_hosts=None)):
        back = reverse("resource-list", args=["devices"])
    devices = list(devices_for(actor=request.actor).filter(pk__in=device_ids))
    tag = tags_for(actor=request.actor).filter(pk__in=_ids([request.POST.get("tag", "")])).first()
    if operation not in {"tag", "untag"}:
        messages.error(request, "Choose what to do with the selected devices.")
    elif not devices:
        messages.error(request, "Tick at least one device first.")
    elif tag is None:
        messages.error(request, "Choose a tag first.")
    else:
        adding = operation == "tag"
        changed = change_tags(actor=request.actor, objects=devices, add=[tag] if adding else [],
                              remove=[] if adding else [tag])
        untouched = len(devices) - changed
        note = f" ({untouched} already {'had it' if adding else 'lacked it'})" if untouched else ""
        messages.success(request, f"Tag {tag.name} {'added to' if adding else 'removed from'} {changed} "
                                  f"device{'' if changed == 1 else 's'}{note}.")
    return redirect_to(request, back)
