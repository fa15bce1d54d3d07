"""Dynamic groups on the pages: the record type (list, form, detail with its members) and "save this device
list as a dynamic group", which turns the list's filters into rules."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.http import QueryDict

from portal.access import Actor, Role
from portal.custom_fields.models import CustomFieldTarget
from portal.custom_fields.selectors import definitions_of
from portal.dynamic_groups import services
from portal.dynamic_groups.models import DynamicGroup
from portal.dynamic_groups.rules import MAX_RULES
from portal.dynamic_groups.selectors import dynamic_groups_for, members_of, rules_shown_to
from portal.forms import CompanyOrMspForm
from portal.pages import Column, Resource

RULES_HELP = ('One rule per list item, e.g. [{"field": "os", "op": "eq", "value": "windows"}, {"field": "tag", '
              '"op": "has", "value": 3}, {"field": "custom.backup_age", "op": "gt", "value": 7}, {"field": '
              '"software", "op": "installed", "value": "firefox"}, {"field": "last_seen", "op": '
              '"older_than_hours", "value": 24}]. Fields: company, site, group (ids), os, status, tag (id), '
              'custom.<name>, software, patches (any, none, contains), last_seen. No rules: every device.')


class DynamicGroupForm(CompanyOrMspForm):
    rules = forms.JSONField(required=False, initial=list, help_text=RULES_HELP,
                            widget=forms.Textarea(attrs={"rows": 8, "class": "code", "spellcheck": "false"}))

    class Meta:
        model = DynamicGroup
        fields = ["name", "company", "match", "rules", "description"]

    def service_arguments(self) -> dict[str, Any]:
        arguments = super().service_arguments()
        arguments["rules"] = arguments.get("rules") or []
        return arguments


def rules_from_list_query(query: QueryDict) -> dict[str, Any]:
    """A device list's filters (status, OS, placement, tag, custom choice fields) as a new group's rules."""
    rules: list[dict[str, Any]] = []
    for parameter, field in (("status", "status"), ("os", "os"), ("company", "company"), ("site", "site"),
                             ("group", "group")):
        if query.get(parameter):
            value = query[parameter]
            rules.append({"field": field, "op": "eq", "value": int(value) if value.isdigit() else value})
    if query.get("tag", "").isdigit():
        rules.append({"field": "tag", "op": "has", "value": int(query["tag"])})
    if query.get("patches") == "pending":
        rules.append({"field": "patches", "op": "any"})
    for field in definitions_of(target=CustomFieldTarget.DEVICE):
        if query.get(f"cf_{field.name}"):
            rules.append({"field": f"custom.{field.name}", "op": "eq", "value": query[f"cf_{field.name}"]})
    return {"rules": json.dumps(rules[:MAX_RULES])} if rules else {}


def _describe(rule: dict[str, Any]) -> str:
    value = rule.get("value")
    shown = "" if value is None else f" {value}"
    extra = f" (version {rule['version']})" if rule.get("version") else ""
    return f"{rule['field']} {rule['op'].replace('_', ' ')}{shown}{extra}"


def _group_detail(actor: Actor, group: DynamicGroup) -> dict[str, Any]:
    members = members_of(actor=actor, group=group)
    return {"members": members[:50], "member_count": members.count(),
            "rule_texts": [_describe(rule) for rule in rules_shown_to(actor=actor, group=group) or []],
            "rules_hidden": rules_shown_to(actor=actor, group=group) is None, "can_run": actor.has_role(Role.OPERATOR)}


def _scope(group: DynamicGroup) -> str:
    return group.company.name if group.company_id else "The whole MSP"


DYNAMIC_GROUPS = Resource(
    slug="dynamic-groups", noun="dynamicgroup", title="Dynamic groups",
    rows_for=dynamic_groups_for,
    columns=(Column("Name", "name", "name"), Column("Of", "company", "company__name", render=_scope),
             Column("Match", "get_match_display", "match"), Column("Rules", "rules", render=lambda g: len(g.rules)),
             Column("Changed", "updated_at", "updated_at")),
    search_fields=("name", "description"),
    default_sort="name",
    form_class=DynamicGroupForm,
    create=services.create_dynamic_group,
    update=services.update_dynamic_group,
    delete=services.delete_dynamic_group,
    parent_fields=("company",),
    hidden_fields=("rules",),
    initial_from_query=rules_from_list_query,
    detail_context=_group_detail,
    empty_hint="A dynamic group is a saved device filter (OS, tag, custom field, software, last seen…) that "
               "updates itself; pick it in the device list, or run and schedule scripts on it. Filter the device "
               "list and choose “Save as a dynamic group”.",
)
