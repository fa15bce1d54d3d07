"""Forms of the dashboard. Choices of related rows are limited to what the actor may see."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms

from portal.access import Actor
from portal.forms import ScopedModelForm
from portal.inventory.models import Device
from portal.tags.models import Tag
from portal.tenancy.models import Company, Contact, Group, Site
from portal.tenancy.selectors import companies_for, groups_for, sites_for


class CompanyForm(ScopedModelForm):
    class Meta:
        model = Company
        fields = ["name", "account_number", "time_zone", "remote_consent_required", "remote_banner", "notes"]


class SiteForm(ScopedModelForm):
    create_only_fields = ("company",)

    class Meta:
        model = Site
        fields = ["company", "name", "description", "address", "contact_phone", "contact_email"]

    def limit_choices(self) -> None:
        if "company" in self.fields:
            self.fields["company"].queryset = companies_for(actor=self.actor)


class GroupForm(ScopedModelForm):
    create_only_fields = ("site",)

    class Meta:
        model = Group
        fields = ["site", "name", "notes"]

    def limit_choices(self) -> None:
        if "site" in self.fields:
            self.fields["site"].queryset = sites_for(actor=self.actor)


class ContactForm(ScopedModelForm):
    create_only_fields = ("company",)

    class Meta:
        model = Contact
        fields = ["company", "name", "email", "phone", "job_title"]

    def limit_choices(self) -> None:
        if "company" in self.fields:
            self.fields["company"].queryset = companies_for(actor=self.actor)


class DeviceForm(ScopedModelForm):
    class Meta:
        model = Device
        fields = ["site", "group", "hostname", "display_name", "os_type", "os_version", "serial_number",
                  "heartbeat_interval"]

    def limit_choices(self) -> None:
        self.fields["site"].queryset = sites_for(actor=self.actor)
        self.fields["group"].queryset = groups_for(actor=self.actor)
        if not self.instance.pk:
            self.instance.company_id = None

    def _post_clean(self) -> None:
        # The company follows the site; set it before the model's own checks run.
        site = self.cleaned_data.get("site")
        if site is not None:
            self.instance.company_id = site.company_id
        super()._post_clean()


class TagForm(ScopedModelForm):
    class Meta:
        model = Tag
        fields = ["name", "colour", "description"]


class APITokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses this token, e.g. 'billing export'.")
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, initial=90,
        help_text="Leave empty for a token that does not expire.",
    )


class EnrollmentTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'HQ laptops rollout'.")
    site = forms.ModelChoiceField(queryset=None, help_text="Devices that enroll with it join this site.")
    group = forms.ModelChoiceField(queryset=None, required=False, help_text="Optional: a group of that site.")
    expires_in_days = forms.IntegerField(min_value=1, max_value=365, required=False, initial=7,
                                         help_text="Leave empty for a token that does not expire.")
    max_uses = forms.IntegerField(min_value=1, required=False, help_text="Leave empty for any number of devices.")

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites_for(actor=actor)
        self.fields["group"].queryset = groups_for(actor=actor)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("group") and data.get("site") and data["group"].site_id != data["site"].pk:
            self.add_error("group", "This group belongs to another site.")
        return data


def _time_zone_choices() -> list[tuple[str, str]]:
    return [("", "The server's time zone"), *((name, name) for name in sorted(zoneinfo.available_timezones()))]


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(choices=_time_zone_choices, required=False,
                                  help_text="Times on every page are shown in this zone.")
