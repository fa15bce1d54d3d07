"""The base of every form over a model: it knows its actor, so choices of related rows are limited to
what the actor may see, and fields that may not change after creation are left out of edit forms."""

from __future__ import annotations

from typing import Any

from django import forms

from portal.access import Actor


class ScopedModelForm(forms.ModelForm):
    """A ModelForm that knows its actor; ``is_update`` hides the fields that may not change after creation."""

    create_only_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        if self.instance.pk:
            for name in self.create_only_fields:
                self.fields.pop(name, None)
        self.limit_choices()

    def limit_choices(self) -> None:
        """Narrow related-row choices to the actor's scope."""

    def service_arguments(self) -> dict[str, Any]:
        """The cleaned values, named as the services take them."""
        return dict(self.cleaned_data)
