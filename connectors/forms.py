"""The connector form: the token secret is write-only (see portal.forms.ScopedModelForm)."""

from __future__ import annotations

from django import forms

from connectors.models import Connector
from portal.forms import ScopedModelForm


class ConnectorForm(ScopedModelForm):
    secret_fields = ("token_secret",)
    secrets_sent_to = "the base URL"
    base_url = forms.URLField(label="Base URL", assume_scheme="https",
                              help_text=Connector._meta.get_field("base_url").help_text)

    class Meta:
        model = Connector
        fields = ["name", "kind", "base_url", "token_id", "token_secret", "enabled", "write_account_numbers",
                  "account_number_field"]
