"""The network device form: secrets are write-only (never shown back; empty keeps the stored one)."""

from __future__ import annotations

from typing import Any

from django import forms

from monitoring.models import Camera, Check, MaintenanceWindow, NetworkDevice
from portal.access import rows_for_system
from portal.forms import ScopedModelForm
from portal.tenancy.selectors import companies_for, groups_for, sites_for

SECRETS = ("community", "auth_key", "priv_key")
SECRET_WIDGET = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})


class NetworkDeviceForm(ScopedModelForm):
    class Meta:
        model = NetworkDevice
        fields = ["site", "group", "name", "host", "port", "vendor", "device_type", "snmp_version", "community",
                  "v3_user", "auth_protocol", "auth_key", "priv_protocol", "priv_key", "poll_interval_minutes"]
        widgets = {"community": SECRET_WIDGET, "auth_key": SECRET_WIDGET, "priv_key": SECRET_WIDGET}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in SECRETS:
                self.fields[name].help_text = ("Stored encrypted; leave empty to keep the current value. If you change "
                                               "the host or port, enter it again: it is cleared otherwise.")

    def limit_choices(self) -> None:
        self.fields["site"].queryset = sites_for(actor=self.actor)
        self.fields["group"].queryset = groups_for(actor=self.actor)
        if not self.instance.pk:
            self.instance.company_id = None

    def _post_clean(self) -> None:
        site = self.cleaned_data.get("site")
        if site is not None:
            self.instance.company_id = site.company_id
        self.entered_secrets = {name for name in SECRETS if self.cleaned_data.get(name)}
        stored = rows_for_system(NetworkDevice).filter(pk=self.instance.pk).first() if self.instance.pk else None
        for name in SECRETS:
            if stored is not None and name not in self.entered_secrets:
                self.cleaned_data[name] = getattr(stored, name)  # empty means "keep": validate with the stored one
        super()._post_clean()

    def service_arguments(self) -> dict[str, Any]:
        # Only secrets typed into this form go to the service, which decides whether the stored ones stay.
        return {name: value for name, value in self.cleaned_data.items()
                if name not in SECRETS or name in self.entered_secrets}


class CameraForm(ScopedModelForm):
    class Meta:
        model = Camera
        fields = ["site", "name", "host", "rtsp_url", "username", "password", "location", "check_interval_minutes"]
        widgets = {"password": SECRET_WIDGET}

    def limit_choices(self) -> None:
        self.fields["site"].queryset = sites_for(actor=self.actor)
        if not self.instance.pk:
            self.instance.company_id = None
        else:
            self.fields["password"].help_text = ("Stored encrypted; leave empty to keep the current password. If you "
                                                 "change the host or the RTSP URL, enter it again: it is cleared "
                                                 "otherwise.")

    def _post_clean(self) -> None:
        site = self.cleaned_data.get("site")
        if site is not None:
            self.instance.company_id = site.company_id
        self.password_entered = bool(self.cleaned_data.get("password"))
        if self.instance.pk and not self.password_entered:
            self.cleaned_data["password"] = type(self.instance).objects.get(pk=self.instance.pk).password
        super()._post_clean()

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if not self.password_entered:
            data.pop("password", None)  # the service keeps or clears the stored one
        return data


class CheckForm(ScopedModelForm):
    create_only_fields = ("company",)

    class Meta:
        model = Check
        fields = ["company", "name", "kind", "warning_threshold", "critical_threshold", "failures_before_alert",
                  "parameter", "warning_severity", "critical_severity", "enabled"]

    def limit_choices(self) -> None:
        if "company" in self.fields:
            self.fields["company"].queryset = companies_for(actor=self.actor)


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
