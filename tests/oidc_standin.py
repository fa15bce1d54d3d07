"""A stand-in OpenID Connect provider (the contract of OpenID Connect Core 1.0 and Discovery 1.0, as Entra ID
and Google follow it): discovery, the authorization endpoint (it signs the person in at once and redirects back
with a code), the token endpoint (client_secret_post; an RS256 ID token), userinfo and the signing keys."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.connectors.standin import Answer, StandIn


class OidcStandIn(StandIn):
    def __init__(self, *, client_id: str, client_secret: str, person: dict[str, Any]) -> None:
        super().__init__()
        self.client_id, self.client_secret, self.person = client_id, client_secret, person
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes) -> Answer:
        origin = self.origin
        if path == ".well-known/openid-configuration":
            return 200, {"issuer": origin, "authorization_endpoint": f"{origin}/authorize",
                         "token_endpoint": f"{origin}/token", "userinfo_endpoint": f"{origin}/userinfo",
                         "jwks_uri": f"{origin}/jwks", "response_types_supported": ["code"],
                         "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
                         "token_endpoint_auth_methods_supported": ["client_secret_post"]}, {}
        if path == "authorize":
            if query.get("client_id") != [self.client_id]:
                return 400, {"error": "unauthorized_client"}, {}
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"redirect_uri": query["redirect_uri"][0], "nonce": (query.get("nonce") or [""])[0]}
            target = query["redirect_uri"][0] + "?" + urlencode({"code": code, "state": query["state"][0]})
            return 302, {}, {"Location": target}
        if path == "token" and method == "POST":
            form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
            granted = self.codes.pop(form.get("code", ""), None)
            if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret) \
                    or granted is None or granted["redirect_uri"] != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant"}, {}
            access = secrets.token_urlsafe(24)
            self.tokens[access] = self.person
            claims = {"iss": origin, "aud": self.client_id, "iat": int(time.time()), "exp": int(time.time()) + 300,
                      **self.person}
            if granted["nonce"]:
                claims["nonce"] = granted["nonce"]
            id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})
            return 200, {"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}, {}
        if path == "userinfo":
            person = self.tokens.get(str(headers.get("Authorization", "")).removeprefix("Bearer "))
            return (200, person, {}) if person else (401, {"error": "invalid_token"}, {})
        if path == "jwks":
            public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
            return 200, {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}, {}
        return 404, {"error": "not_found"}, {}
