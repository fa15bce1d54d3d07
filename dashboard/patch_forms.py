"""Forms of the patch pages: a policy's patching (approval per category as a grid, the deny list one entry per
line), a patch window, and the monthly report. The services check everything again."""

from __future__ import annotations

from typing import Any

from django import forms

from dashboard.action_forms import LinesField
from portal.inventory.models import UpdateCategory
from portal.patching.models import WEEKDAYS, Frequency, PatchPolicy, PatchWindow
from portal.patching.rules import ANY

CATEGORY_CHOICES = [("approve", "Approve"), ("manual", "Ask a technician"), ("deny", "Deny")]


class PatchPolicyForm(forms.ModelForm):
    """A policy's patching. Approval is one rule per category (approve after N days, ask, deny); rules with a
    minimum severity are made through GraphQL and shown on the page."""

    deny_list = LinesField(required=False, help_text="Never installed: one KB number, package name or glob "
                                                     "(linux-image-*) per line.")

    class Meta:
        model = PatchPolicy
        fields = ["enabled", "deny_list", "catch_up", "include_applications", "suppress_alerts", "reboot_mode",
                  "reboot_warning_minutes", "reboot_max_postpone_minutes", "reboot_message"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = {rule["category"]: rule for rule in (self.instance.rules if self.instance.pk else [])
                   if not rule.get("min_severity")}
        self.category_fields = []
        for category in UpdateCategory:
            rule = current.get(category.value) or current.get(ANY) or {"action": "manual", "defer_days": 0}
            action, days = f"rule_{category.value}", f"defer_{category.value}"
            self.fields[action] = forms.ChoiceField(choices=CATEGORY_CHOICES, initial=rule["action"],
                                                    label=category.label)
            self.fields[days] = forms.IntegerField(min_value=0, max_value=365, initial=rule.get("defer_days", 0),
                                                   label=f"{category.label}: days to wait", required=False)
            self.category_fields.append((self[action], self[days]))
        self.has_severity_rules = any(rule.get("min_severity") for rule in
                                      (self.instance.rules if self.instance.pk else []))

    @property
    def visible_model_fields(self) -> list[Any]:
        """The form's own fields (the category grid is drawn apart)."""
        return [self[name] for name in self.Meta.fields]

    def changes(self) -> dict[str, Any]:
        """What the service takes: the model fields and the rules built from the grid."""
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        data["rules"] = [{"category": category.value, "min_severity": "",
                          "action": self.cleaned_data[f"rule_{category.value}"],
                          "defer_days": (self.cleaned_data.get(f"defer_{category.value}") or 0)
                          if self.cleaned_data[f"rule_{category.value}"] == "approve" else 0}
                         for category in UpdateCategory]
        return data


class PatchWindowForm(forms.ModelForm):
    weekdays = forms.TypedMultipleChoiceField(choices=list(enumerate(WEEKDAYS)), coerce=int, required=False,
                                              widget=forms.CheckboxSelectMultiple,
                                              help_text="Weekly windows: the days.")

    class Meta:
        model = PatchWindow
        fields = ["frequency", "weekdays", "week_of_month", "weekday", "starts_at", "duration_minutes"]
        widgets = {"starts_at": forms.TimeInput(attrs={"type": "time"})}
        labels = {"starts_at": "Starts at (the company's local time)", "duration_minutes": "Open for (minutes)"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["frequency"].initial = Frequency.WEEKLY


class ReportScheduleForm(forms.Form):
    recipients = LinesField(help_text="One email address per line.")
    day_of_month = forms.IntegerField(min_value=1, max_value=28, initial=1, help_text="Sent on this day of each "
                                                                                        "month (1–28).")
    enabled = forms.BooleanField(required=False, initial=True)
