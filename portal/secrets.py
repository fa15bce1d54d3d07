"""Secrets at rest: a model field whose value is stored Fernet-encrypted under FLEETWATCH_SECRETS_KEYS.

The first key encrypts; every listed key decrypts, so a new key is put first to rotate and old rows
are re-encrypted the next time they are saved (``manage.py`` shell: save each row). The audit log
never copies these fields.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fwenc1:"


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FLEETWATCH_SECRETS_KEYS is empty.")
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def encrypt(plaintext: str) -> str:
    return PREFIX + _fernet(tuple(settings.FLEETWATCH_SECRETS_KEYS)).encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("Not an encrypted value.")
    try:
        return _fernet(tuple(settings.FLEETWATCH_SECRETS_KEYS)).decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken as error:
        raise ValueError("This secret cannot be decrypted with FLEETWATCH_SECRETS_KEYS (was a key removed?)") \
            from error


class EncryptedTextField(models.TextField):
    """Plain text in Python, Fernet ciphertext in the database. Empty stays empty."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
