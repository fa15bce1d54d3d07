"""Forms of the remote-actions pages: the library, schedules, and the run-an-action form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from dashboard.forms import ScopedModelForm
from portal.access import Actor
from portal.actions.models import (
    ActionSchedule,
    ActionType,
    DeploymentProfile,
    ProfileTask,
    Script,
    ScriptLanguage,
    SoftwareItem,
)
from portal.actions.parameters import Parameter, as_text, from_text
from portal.actions.selectors import profiles_for, scripts_for, software_items_for
from portal.dynamic_groups.selectors import dynamic_groups_for
from portal.inventory.models import OsType
from portal.policies.selectors import policies_for
from portal.tags.selectors import tags_for
from portal.tenancy.selectors import companies_for, groups_for, sites_for


class LinesField(forms.CharField):
    """A list of strings entered one per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class EnvironmentField(forms.CharField):
    """NAME=value pairs, one per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value

    def to_python(self, value: Any) -> dict[str, str]:
        pairs = {}
        for line in (super().to_python(value) or "").splitlines():
            if not line.strip():
                continue
            name, separator, content = line.partition("=")
            if not separator or not name.strip():
                raise ValidationError(f"Write NAME=value, not {line!r}.")
            pairs[name.strip()] = content
        return pairs


class ScriptForm(ScopedModelForm):
    arguments = LinesField(required=False, help_text="Default arguments, one per line.")
    sets_tags = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple, label="Output sets tags",
        help_text="Tags a run's output may put on or take off its device, with lines 'fleetwatch-tag: +name' or "
                  "'fleetwatch-tag: -name' (no other tag can be touched).")
    environment = EnvironmentField(required=False, help_text="Environment variables, NAME=value one per line.")
    parameters = forms.JSONField(required=False, widget=forms.Textarea(attrs={"rows": 6, "class": "code",
                                                                              "spellcheck": "false"}),
                                 help_text=Script._meta.get_field("parameters").help_text)

    class Meta:
        model = Script
        fields = ["name", "description", "language", "target_os", "content", "default_timeout", "arguments",
                  "environment", "parameters", "sets_field", "sets_tags"]
        widgets = {"content": forms.Textarea(attrs={"rows": 14, "class": "code", "spellcheck": "false"})}

    def limit_choices(self) -> None:
        self.fields["sets_tags"].queryset = tags_for(actor=self.actor)

    def clean_parameters(self) -> Any:
        return self.cleaned_data.get("parameters") or []

    def clean_sets_tags(self) -> list[int]:
        return sorted(tag.pk for tag in self.cleaned_data.get("sets_tags") or [])


def parameter_field(parameter: Parameter) -> forms.Field:
    """The typed input of one declared script parameter."""
    label = parameter.name + (f" ({parameter.description})" if parameter.description else "")
    common = {"required": False, "label": label,
              "help_text": "Required." if parameter.required and parameter.default is None else
              (f"Default: {as_text(parameter.default)}." if parameter.default is not None else "Optional.")}
    if parameter.type == "number":
        return forms.FloatField(**common, widget=forms.NumberInput(attrs={"step": "any"}))
    if parameter.type == "bool":
        return forms.NullBooleanField(**common, widget=forms.Select(choices=[
            ("unknown", "Default"), ("true", "Yes"), ("false", "No")]))
    if parameter.type == "choice":
        return forms.ChoiceField(**common, choices=[("", "Default"), *((c, c) for c in parameter.choices)])
    return forms.CharField(**common, max_length=4096, strip=False)


PARAMETER_PREFIX = "param_"


def add_parameter_fields(form: forms.Form, script: Script | None) -> None:
    """Give ``form`` one typed field per parameter ``script`` declares."""
    if script is None:
        return
    for parameter in script.declared():
        form.fields[PARAMETER_PREFIX + parameter.name] = parameter_field(parameter)


def parameter_values(form: forms.Form) -> dict[str, Any]:
    """The filled parameter fields of a valid form, as the services take them (empty: not given)."""
    values = {}
    for name, value in form.cleaned_data.items():
        if name.startswith(PARAMETER_PREFIX) and value not in (None, ""):
            values[name[len(PARAMETER_PREFIX):]] = int(value) if isinstance(value, float) and value.is_integer() \
                else value
    return values


class SoftwareItemForm(ScopedModelForm):
    class Meta:
        model = SoftwareItem
        fields = ["name", "description", "winget_id", "choco_id", "apt_name", "dnf_name", "brew_name"]


class ProfileForm(ScopedModelForm):
    class Meta:
        model = DeploymentProfile
        fields = ["name", "description", "target_os", "is_template"]


class ProfileTaskForm(ScopedModelForm):
    arguments = LinesField(required=False, help_text="Run script: arguments, one per line (empty: the script's own).")
    parameters = EnvironmentField(required=False, help_text="Run script: values of its declared parameters, "
                                                            "NAME=value one per line.")
    patch_ids = LinesField(required=False, help_text="Install patches: one patch id per line.")
    reboot_after = forms.BooleanField(required=False, help_text="Install patches: reboot when done.")
    delay_seconds = forms.IntegerField(required=False, min_value=0, max_value=86400,
                                       help_text="Reboot: seconds to wait (users are warned).")

    class Meta:
        model = ProfileTask
        fields = ["name", "order_index", "action_type", "script", "software", "continue_on_error"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["order_index"].required = False
        self.fields["order_index"].help_text = "Leave empty to add it last."

    def limit_choices(self) -> None:
        self.fields["script"].queryset = scripts_for(actor=self.actor)
        self.fields["software"].queryset = software_items_for(actor=self.actor)

    def _post_clean(self) -> None:
        """The profile is set by the service, so the model's own checks wait for it."""

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        options: dict[str, Any] = {}
        if data["action_type"] == ActionType.RUN_SCRIPT and data.get("arguments"):
            options["arguments"] = data["arguments"]
        if data["action_type"] == ActionType.RUN_SCRIPT and data.get("parameters") and data.get("script"):
            options["parameters"] = from_text(data["script"].declared(), data["parameters"])
        if data["action_type"] == ActionType.INSTALL_PATCHES:
            options.update(patch_ids=data.get("patch_ids") or [], reboot_after=bool(data.get("reboot_after")))
        if data["action_type"] == ActionType.REBOOT:
            options["delay_seconds"] = data.get("delay_seconds") or 0
        return {"name": data["name"], "order_index": data.get("order_index"), "action_type": data["action_type"],
                "script": data.get("script"), "software": data.get("software"), "options": options,
                "continue_on_error": data.get("continue_on_error", False)}


class ScheduleForm(ScopedModelForm):
    """A company's schedule (on its devices, or a site, group, device or dynamic group of it), or a policy's (on
    every device the policy reaches)."""

    create_only_fields = ("company", "policy")
    parameters = EnvironmentField(required=False, label="Parameters",
                                  help_text="Values for the script's declared parameters, NAME=value one per line "
                                            "(empty: each parameter's default).")

    class Meta:
        model = ActionSchedule
        fields = ["name", "company", "policy", "site", "group", "dynamic_group", "os_type", "script", "profile",
                  "parameters", "kind", "run_at", "every", "enabled"]
        widgets = {"run_at": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")}

    def limit_choices(self) -> None:
        if "company" in self.fields:
            self.fields["company"].queryset = companies_for(actor=self.actor)
            self.fields["policy"].queryset = policies_for(actor=self.actor)
        self.fields["site"].queryset = sites_for(actor=self.actor)
        self.fields["group"].queryset = groups_for(actor=self.actor)
        self.fields["dynamic_group"].queryset = dynamic_groups_for(actor=self.actor)
        self.fields["script"].queryset = scripts_for(actor=self.actor)
        self.fields["profile"].queryset = profiles_for(actor=self.actor).filter(is_template=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        script = data.get("script")
        if script is not None and data.get("parameters"):
            try:
                data["parameters"] = from_text(script.declared(), data["parameters"])
            except ValidationError as error:
                self.add_error("parameters", error.message_dict["parameters"])
        return data

    def _post_clean(self) -> None:
        if self.instance.pk is None:
            policy = self.cleaned_data.get("policy")
            if policy is not None:  # a policy's schedule is the policy's company's
                self.cleaned_data["company"] = self.instance.company = policy.company
            elif self.cleaned_data.get("company") is not None:
                self.instance.company = self.cleaned_data["company"]
        super()._post_clean()

    def service_arguments(self) -> dict[str, Any]:
        arguments = super().service_arguments()
        if arguments.get("policy") is not None:
            arguments.pop("company", None)
        return arguments


class RunKind:
    SCRIPT = "script"
    INLINE = "inline"
    REBOOT = "reboot"
    PATCHES = "patches"
    SOFTWARE = "software"
    PROFILE = "profile"
    CHOICES = [(SCRIPT, "Run a library script"), (INLINE, "Run an ad-hoc script"), (REBOOT, "Reboot"),
               (PATCHES, "Install patches"), (SOFTWARE, "Install software"), (PROFILE, "Apply a deployment profile")]


# The fields each kind of action shows (the page shows nothing else): one script run, not every field of every
# kind. Targets and the OS filter are common to all.
KIND_FIELDS = {
    RunKind.SCRIPT: ("script", "timeout", "run_as", "arguments", "environment"),
    RunKind.INLINE: ("language", "content", "arguments", "environment", "timeout", "run_as"),
    RunKind.REBOOT: ("delay_seconds", "message"),
    RunKind.PATCHES: ("patch_ids", "reboot_after"),
    RunKind.SOFTWARE: ("software",),
    RunKind.PROFILE: ("profile",),
}
TARGET_KINDS = ("company", "site", "group", "dynamic_group", "device")


class RunActionForm(forms.Form):
    """What to run and where: picked devices, or a group, site, company or dynamic group (with an OS filter)."""

    kind = forms.ChoiceField(choices=RunKind.CHOICES, label="Action")
    target = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput,
                             help_text="What the picker chose, as kind:id (company:3, site:5, device:12…).")
    script = forms.ModelChoiceField(queryset=None, required=False, help_text="Library script to run.")
    language = forms.ChoiceField(choices=[("", "—"), *ScriptLanguage.choices], required=False,
                                 help_text="Ad-hoc script: its language.")
    content = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 8, "class": "code",
                                                                           "spellcheck": "false"}),
                              help_text="Ad-hoc script: its text.")
    arguments = LinesField(required=False, help_text="Free arguments, one per line, instead of the script's defaults "
                                                     "(needs the inline-script permission).")
    environment = EnvironmentField(required=False, help_text="Free environment variables, NAME=value one per line "
                                                             "(needs the inline-script permission).")
    timeout = forms.IntegerField(required=False, min_value=1, max_value=86400,
                                 help_text="Seconds before the run is stopped (empty: the script's default).")
    run_as = forms.CharField(required=False, max_length=64, help_text="Run as this user (Linux/macOS agents "
                                                                       "running as root).")
    delay_seconds = forms.IntegerField(required=False, min_value=0, max_value=86400, initial=0,
                                       help_text="Reboot: seconds to wait; logged-in users are warned.")
    message = forms.CharField(required=False, max_length=500, help_text="Reboot: the warning users see.")
    patch_ids = LinesField(required=False, help_text="Patches: one id per line (package, KB number or label).")
    reboot_after = forms.BooleanField(required=False, help_text="Patches: reboot when they are installed.")
    software = forms.ModelChoiceField(queryset=None, required=False, help_text="Catalogue item to install.")
    profile = forms.ModelChoiceField(queryset=None, required=False, help_text="Profile whose tasks run in order.")
    device = forms.ModelMultipleChoiceField(queryset=None, required=False, widget=forms.MultipleHiddenInput)
    group = forms.ModelChoiceField(queryset=None, required=False, help_text="Or every device of a group…")
    site = forms.ModelChoiceField(queryset=None, required=False, help_text="…a site…")
    company = forms.ModelChoiceField(queryset=None, required=False, help_text="…a company…")
    dynamic_group = forms.ModelChoiceField(queryset=None, required=False,
                                           help_text="…or the devices of a dynamic group, as it matches now.")
    os_type = forms.ChoiceField(choices=[("", "Any OS"), *OsType.choices], required=False, label="Only OS")

    def __init__(self, *args: Any, actor: Actor, devices_queryset: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["script"].queryset = scripts_for(actor=actor)
        self.fields["software"].queryset = software_items_for(actor=actor)
        self.fields["profile"].queryset = profiles_for(actor=actor).filter(is_template=False)
        self.fields["device"].queryset = devices_queryset
        self.fields["group"].queryset = groups_for(actor=actor)
        self.fields["site"].queryset = sites_for(actor=actor)
        self.fields["company"].queryset = companies_for(actor=actor)
        self.fields["dynamic_group"].queryset = dynamic_groups_for(actor=actor)
        if not actor.may_run_inline_scripts:
            self.fields["kind"].choices = [c for c in RunKind.CHOICES if c[0] != RunKind.INLINE]
            for name in ("language", "content", "arguments", "environment"):
                del self.fields[name]
        self.chosen_script = self._chosen_script()
        add_parameter_fields(self, self.chosen_script)
        # Picking another script swaps its parameter inputs in place (without JavaScript they appear once
        # the form is sent: a required parameter left empty is then asked for).
        self.fields["script"].widget.attrs.update({"hx-get": reverse("action-parameters"), "hx-trigger": "change",
                                                   "hx-target": "#script-parameters", "hx-swap": "innerHTML"})

    @property
    def chosen_kind(self) -> str:
        raw = self.data.get("kind") if self.is_bound else self.initial.get("kind")
        return raw if raw in KIND_FIELDS else RunKind.SCRIPT

    def kind_fields(self) -> list[Any]:
        """The fields of the chosen kind, in order (those the actor may not use are gone already)."""
        return [self[name] for name in KIND_FIELDS[self.chosen_kind] if name in self.fields]

    def fallback_target_fields(self) -> list[Any]:
        """The target lists, for a browser without JavaScript (the picker needs it)."""
        return [self[name] for name in ("group", "site", "company", "dynamic_group")]

    def main_fields(self) -> list[Any]:
        return [field for field in self if not field.name.startswith(PARAMETER_PREFIX)]

    def parameter_fields(self) -> list[Any]:
        return [field for field in self if field.name.startswith(PARAMETER_PREFIX)]

    def _chosen_script(self) -> Script | None:
        """The library script picked so far (posted, or preselected with ?script=), for its parameter fields."""
        raw = self.data.get("script") if self.is_bound else self.initial.get("script")
        if not raw or not str(raw).isdigit():
            return None
        return self.fields["script"].queryset.filter(pk=int(raw)).first()

    def clean_target(self) -> str:
        """The picker's choice: one of the actor's companies, sites, groups, dynamic groups or devices."""
        value = self.cleaned_data.get("target") or ""
        if not value:
            return ""
        kind, _, raw = value.partition(":")
        if kind not in TARGET_KINDS or not raw.isdigit():
            raise ValidationError("Pick a target from the list.")
        found = self.fields[kind].queryset.filter(pk=int(raw)).first()
        if found is None:
            raise ValidationError("That target does not exist or is not yours.")
        self.picked_target = (kind, found)
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        picked = getattr(self, "picked_target", None)
        if picked is not None:
            kind, found = picked
            data[kind] = [found] if kind == "device" else found
        targets = [name for name in ("device", "group", "site", "company", "dynamic_group") if data.get(name)]
        if not targets:
            raise ValidationError("Choose where to run it: devices, a group, a site, a company or a dynamic group.")
        if len(targets) > 1:
            raise ValidationError("Choose one kind of target: picked devices, or a group, a site, a company or a "
                                  "dynamic group.")
        required = {RunKind.SCRIPT: "script", RunKind.SOFTWARE: "software", RunKind.PROFILE: "profile",
                    RunKind.INLINE: "content"}.get(data.get("kind"))
        if required and not data.get(required):
            self.add_error(required, "Required for this action.")
        if data.get("kind") == RunKind.PATCHES and not data.get("patch_ids"):
            self.add_error("patch_ids", "List at least one patch id.")
        return data
