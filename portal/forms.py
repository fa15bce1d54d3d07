"""The base of every form over a model: it knows its actor, so choices of related rows are limited to
what the actor may see, fields that may not change after creation are left out of edit forms, and
secrets are write-only (never shown back; left empty, the stored one stays)."""

from __future__ import annotations

from typing import Any

from django import forms

from portal.access import Actor, rows_for_system
from portal.tenancy.selectors import companies_for


class ScopedModelForm(forms.ModelForm):
    """A ModelForm that knows its actor.

    ``create_only_fields`` are left out when editing. ``secret_fields`` are rendered as password inputs
    that never show the stored value; on an edit an empty one means "keep the stored one": the form
    validates with the stored value and leaves the field out of ``service_arguments``, so the service
    (``portal.writes.clear_retargeted_secrets``) alone decides whether it stays. ``secrets_sent_to``
    names the fields that say where the secrets go, for the help text."""

    create_only_fields: tuple[str, ...] = ()
    secret_fields: tuple[str, ...] = ()
    secrets_sent_to: str = ""

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.entered_secrets: set[str] = set()
        if self.instance.pk:
            for name in self.create_only_fields:
                self.fields.pop(name, None)
        for name in self.secret_fields:
            self.fields[name].widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            if self.instance.pk:
                self.fields[name].required = False
                self.fields[name].help_text = self._kept_secret_help()
        self.limit_choices()

    def _kept_secret_help(self) -> str:
        moved = f" If you change {self.secrets_sent_to}, enter it again: it is cleared otherwise." \
            if self.secrets_sent_to else ""
        return f"Stored encrypted; leave empty to keep the current value.{moved}"

    def limit_choices(self) -> None:
        """Narrow related-row choices to the actor's scope."""

    def _post_clean(self) -> None:
        self.entered_secrets = {name for name in self.secret_fields if self.cleaned_data.get(name)}
        kept = [name for name in self.secret_fields if name not in self.entered_secrets]
        if self.instance.pk and kept:
            stored = rows_for_system(type(self.instance)).filter(pk=self.instance.pk).first()
            for name in kept if stored is not None else ():
                self.cleaned_data[name] = getattr(stored, name)  # validate with the stored value
        super()._post_clean()

    def service_arguments(self) -> dict[str, Any]:
        """The cleaned values, named as the services take them; secrets only when typed into this form."""
        return {name: value for name, value in self.cleaned_data.items()
                if name not in self.secret_fields or name in self.entered_secrets}


class CompanyOrMspForm(ScopedModelForm):
    """The form of a row that is one company's or, with no company, the whole MSP's (dynamic groups, policies):
    its company is chosen once, among the actor's; "the whole MSP" is offered to those who see every company."""

    create_only_fields = ("company",)

    def limit_choices(self) -> None:
        if "company" in self.fields:
            self.fields["company"].queryset = companies_for(actor=self.actor)
            self.fields["company"].required = not self.actor.sees_all_companies
            self.fields["company"].empty_label = "The whole MSP" if self.actor.sees_all_companies else None
