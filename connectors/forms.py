from __future__ import annotations

from typing import Any

from django import forms

from connectors.models import Connector
from portal.access import rows_for_system
from portal.forms import ScopedModelForm


class ConnectorForm(ScopedModelForm):
    base_url = forms.URLField(label="Base URL", assume_scheme="https",
                              help_text=Connector._meta.get_field("base_url").help_text)

    class Meta:
        model = Connector
        fields = ["name", "kind", "base_url", "token_id", "token_secret", "enabled", "write_account_numbers",
                  "account_number_field"]
        widgets = {"token_secret": forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["token_secret"].required = False
            self.fields["token_secret"].help_text = ("Stored encrypted; leave empty to keep the current secret. If you "
                                                     "change the base URL, enter it again: it is cleared otherwise.")

    def _post_clean(self) -> None:
        self.secret_entered = bool(self.cleaned_data.get("token_secret"))
        if self.instance.pk and not self.secret_entered:
            self.cleaned_data["token_secret"] = rows_for_system(Connector).get(pk=self.instance.pk).token_secret
        super()._post_clean()

    def service_arguments(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        if not self.secret_entered:
            data.pop("token_secret", None)  # the service keeps or clears the stored one
        return data
