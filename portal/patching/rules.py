"""Approval rules and deny lists: checked when saved (with errors that name the rule), matched when updates are
evaluated. Plain data and plain functions, so the evaluation can run them millions of times cheaply.

A rule: ``{"category": "security" | … | "*", "min_severity": "" | "low" | … | "critical", "action": "approve" |
"deny" | "manual", "defer_days": 0…365}``. The first rule an update matches decides; an update no rule
matches waits for a technician (manual).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from django.core.exceptions import ValidationError

from portal.inventory.models import SEVERITY_RANK, UpdateCategory, UpdateSeverity

ANY = "*"
ACTIONS = ("approve", "deny", "manual")
MAX_RULES = 50
MAX_DENY_ENTRIES = 500
MAX_DEFER_DAYS = 365
DENY_PATTERN = re.compile(r"^[A-Za-z0-9._+:~@*?\[\]\-/ ]{1,200}$")

# Security and critical updates at once, definitions at once, other updates after a week; drivers, features
# and applications wait for a technician.
DEFAULT_RULES = (
    {"category": UpdateCategory.SECURITY.value, "min_severity": "", "action": "approve", "defer_days": 0},
    {"category": UpdateCategory.CRITICAL.value, "min_severity": "", "action": "approve", "defer_days": 0},
    {"category": UpdateCategory.DEFINITION.value, "min_severity": "", "action": "approve", "defer_days": 0},
    {"category": UpdateCategory.UPDATE.value, "min_severity": "", "action": "approve", "defer_days": 7},
    {"category": ANY, "min_severity": "", "action": "manual", "defer_days": 0},
)


def clean_rules(value: Any) -> list[dict[str, Any]]:
    """The rules as stored, or a ValidationError naming the first wrong rule ("Rule 2: …")."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise ValidationError({"rules": "Rules are a list."})
    if len(value) > MAX_RULES:
        raise ValidationError({"rules": f"At most {MAX_RULES} rules."})
    return [_clean_rule(number, rule) for number, rule in enumerate(value, start=1)]


def _clean_rule(number: int, rule: Any) -> dict[str, Any]:
    def refuse(message: str) -> ValidationError:
        return ValidationError({"rules": f"Rule {number}: {message}"})

    if not isinstance(rule, dict):
        raise refuse("a rule is an object with category, min_severity, action and defer_days.")
    unknown = set(rule) - {"category", "min_severity", "action", "defer_days"}
    if unknown:
        raise refuse(f"unknown key(s) {', '.join(sorted(map(str, unknown)))[:100]}.")
    category = rule.get("category", ANY)
    if category != ANY and category not in UpdateCategory.values:
        raise refuse(f"category is one of {', '.join([ANY, *UpdateCategory.values])}.")
    severity = rule.get("min_severity", "") or ""
    if severity not in UpdateSeverity.values:
        raise refuse(f"min_severity is empty (any) or one of {', '.join(v for v in UpdateSeverity.values if v)}.")
    action = rule.get("action")
    if action not in ACTIONS:
        raise refuse(f"action is one of {', '.join(ACTIONS)}.")
    days = rule.get("defer_days", 0)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DEFER_DAYS:
        raise refuse(f"defer_days is a whole number of days, 0–{MAX_DEFER_DAYS}.")
    if action != "approve" and days:
        raise refuse("only an approving rule defers.")
    return {"category": category, "min_severity": severity, "action": action, "defer_days": days}


def clean_deny_list(value: Any) -> list[str]:
    """KB numbers, package names or shell-style globs, one per entry (letter case ignored when matching)."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise ValidationError({"deny_list": "The deny list is a list of names or globs."})
    if len(value) > MAX_DENY_ENTRIES:
        raise ValidationError({"deny_list": f"At most {MAX_DENY_ENTRIES} entries."})
    cleaned: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or not DENY_PATTERN.fullmatch(entry.strip()):
            shown = repr(entry)[:60]
            raise ValidationError({"deny_list": f"{shown} is not a name or glob (letters, digits, . _ + : ~ @ - / "
                                                "and the wildcards * ? [ ], at most 200 characters)."})
        if entry.strip() not in cleaned:
            cleaned.append(entry.strip())
    return cleaned


def matching_rule(rules: list[dict[str, Any]], *, category: str, severity: str) -> tuple[int, dict[str, Any]] | None:
    """The first rule (its number from 1, and itself) an update of ``category`` and ``severity`` matches."""
    rank = SEVERITY_RANK.get(severity, 0)
    for number, rule in enumerate(rules, start=1):
        if rule["category"] not in (ANY, category):
            continue
        if rule["min_severity"] and rank < SEVERITY_RANK[rule["min_severity"]]:
            continue
        return number, rule
    return None


def denied_by(deny_list: list[str], identifier: str) -> str | None:
    """The deny-list entry that matches ``identifier`` (case-insensitive), if any."""
    lowered = identifier.lower()
    for entry in deny_list:
        if fnmatch.fnmatchcase(lowered, entry.lower()):
            return entry
    return None


def describe_rule(rule: dict[str, Any]) -> str:
    category = "any update" if rule["category"] == ANY else f"{UpdateCategory(rule['category']).label.lower()}"
    if rule["min_severity"]:
        category += f" of severity {UpdateSeverity(rule['min_severity']).label.lower()} or above"
    if rule["action"] == "approve":
        return f"approve {category} " + (f"after {rule['defer_days']} day(s)" if rule["defer_days"] else "at once")
    return f"{'deny' if rule['action'] == 'deny' else 'ask a technician about'} {category}"
