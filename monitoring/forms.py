"""Forms of network devices, cameras, checks and maintenance windows."""

from __future__ import annotations

from typing import Any

from django import forms

from connectors.selectors import connectors_for
from monitoring.models import AlertRoute, Camera, Check, MaintenanceWindow, NetworkDevice
from portal.actions.selectors import scripts_for
from portal.forms import ScopedModelForm
from portal.policies.selectors import policies_for
from portal.tenancy.selectors import companies_for, groups_for, sites_for


class NetworkDeviceForm(ScopedModelForm):
    secret_fields = ("community", "auth_key", "priv_key")
    secrets_sent_to = "the host or port"

    class Meta:
        model = NetworkDevice
        fields = ["site", "group", "name", "host", "port", "vendor", "device_type", "snmp_version", "community",
                  "v3_user", "auth_protocol", "auth_key", "priv_protocol", "priv_key", "poll_interval_minutes"]

    def limit_choices(self) -> None:
        self.fields["site"].queryset = sites_for(actor=self.actor)
        self.fields["group"].queryset = groups_for(actor=self.actor)
        if not self.instance.pk:
            self.instance.company_id = None

    def _post_clean(self) -> None:
        site = self.cleaned_data.get("site")
        if site is not None:
            self.instance.company_id = site.company_id
        super()._post_clean()


class CameraForm(ScopedModelForm):
    secret_fields = ("password",)
    secrets_sent_to = "the host or the RTSP URL"

    class Meta:
        model = Camera
        fields = ["site", "name", "host", "rtsp_url", "username", "password", "location", "check_interval_minutes"]

    def limit_choices(self) -> None:
        self.fields["site"].queryset = sites_for(actor=self.actor)
        if not self.instance.pk:
            self.instance.company_id = None

    def _post_clean(self) -> None:
        site = self.cleaned_data.get("site")
        if site is not None:
            self.instance.company_id = site.company_id
        super()._post_clean()


class CheckForm(ScopedModelForm):
    """A check of a policy; or, picking a company instead, of that company's own policy."""

    create_only_fields = ("policy", "company")
    policy = forms.ModelChoiceField(queryset=None, required=False, help_text="The policy that holds the check.")
    company = forms.ModelChoiceField(queryset=None, required=False,
                                     help_text="Or a company instead of a policy: the check joins the company's own "
                                               "policy.")

    class Meta:
        model = Check
        fields = ["name", "kind", "warning_threshold", "critical_threshold", "failures_before_alert", "parameter",
                  "warning_severity", "critical_severity", "enabled", "script", "interval_minutes",
                  "warning_exit_codes", "event_source", "event_id", "event_level", "restart_service"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order_fields(["policy", "company"])

    def limit_choices(self) -> None:
        if "policy" in self.fields:
            self.fields["policy"].queryset = policies_for(actor=self.actor)
            self.fields["company"].queryset = companies_for(actor=self.actor)
        self.fields["script"].queryset = scripts_for(actor=self.actor)
        self.fields["interval_minutes"].required = False  # empty: every 15 minutes

    def clean_interval_minutes(self) -> int:
        return self.cleaned_data.get("interval_minutes") or 15

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.instance.pk is None and (data.get("policy") is None) == (data.get("company") is None):
            raise forms.ValidationError("Choose a policy, or a company for its own policy (one of the two).")
        return data


class AlertRouteForm(ScopedModelForm):
    """Where a policy's alerts go. The webhook URL is a secret: never shown again, empty keeps it."""

    create_only_fields = ("policy",)
    secret_fields = ("url",)
    emails = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Email: the addresses, one per line.")

    class Meta:
        model = AlertRoute
        fields = ["policy", "name", "kind", "min_severity", "emails", "url", "script", "connector", "on_open",
                  "on_resolve", "renotify_minutes", "enabled"]

    def limit_choices(self) -> None:
        if "policy" in self.fields:
            self.fields["policy"].queryset = policies_for(actor=self.actor)
        self.fields["script"].queryset = scripts_for(actor=self.actor)
        self.fields["connector"].queryset = connectors_for(actor=self.actor).filter(kind="freshservice")
        if self.instance.pk and isinstance(self.instance.emails, list):
            self.initial["emails"] = "\n".join(self.instance.emails)

    def clean_emails(self) -> list[str]:
        return [line.strip() for line in (self.cleaned_data.get("emails") or "").splitlines() if line.strip()]


class MaintenanceWindowForm(ScopedModelForm):
    create_only_fields = ("company",)

    class Meta:
        model = MaintenanceWindow
        fields = ["company", "site", "object_key", "starts_at", "ends_at", "reason"]
        help_texts = {"object_key": "Filled in when you come from a device, network device or camera page "
                                    "(device:12, network:3, camera:5); empty covers the whole site or company."}
        widgets = {"starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
                   "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")}

    def limit_choices(self) -> None:
        if "company" in self.fields:
            self.fields["company"].queryset = companies_for(actor=self.actor)
        self.fields["site"].queryset = sites_for(actor=self.actor)
