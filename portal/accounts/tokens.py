"""Format, digest and parse API tokens: ``fwt_<key id>_<secret>``."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

TOKEN_PATTERN = re.compile(r"^fwt_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class TokenParts:
    key_id: str
    secret: str


def new_token_parts() -> TokenParts:
    """A fresh random key id and 256-bit secret."""
    return TokenParts(key_id=secrets.token_hex(6), secret=secrets.token_urlsafe(32))


def format_token(parts: TokenParts) -> str:
    return f"fwt_{parts.key_id}_{parts.secret}"


def parse_token(raw: str) -> TokenParts | None:
    """Split a presented token into its parts; None when it is not shaped like one of ours."""
    match = TOKEN_PATTERN.match(raw.strip())
    if match is None:
        return None
    return TokenParts(key_id=match["key_id"], secret=match["secret"])


def digest_secret(secret: str) -> str:
    # A plain SHA-256 is the right tool here: the secret has 256 bits of entropy, so a slow password
    # hash would add latency to every API call without making a guess any more feasible.
    return hashlib.sha256(secret.encode()).hexdigest()
