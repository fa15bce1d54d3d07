"""Who may sign in, and how (django-allauth's adapters): nobody signs up (administrators make users), and a
single sign-on identity reaches only an existing, active user whose email address its provider verified.

Why django-allauth: one well-kept library gives TOTP, WebAuthn passkeys and recovery codes, each user's
sessions, and OpenID Connect sign-in (Entra ID, Google, any OIDC provider) behind the same login flow; the
alternatives needed two or three libraries for the same.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.contrib import messages
from django.http import HttpRequest
from django.shortcuts import redirect

from portal.access import rows_for_system, system_actor
from portal.accounts.models import User
from portal.audit.services import record


def signing_in_as(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The user name a sign-in attempt is for, as django-axes counts failures: the credentials tried, or the
    sign-in form's field (``login``, django-allauth's)."""
    if credentials and credentials.get("username"):
        return str(credentials["username"])
    return request.POST.get("login") if request is not None and request.method == "POST" else None


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False


def _verified_email(sociallogin: Any) -> str | None:
    for address in sociallogin.email_addresses:
        if address.verified and address.email:
            return address.email.strip()
    claims = sociallogin.account.extra_data or {}
    if claims.get("email_verified") is True and isinstance(claims.get("email"), str):
        return claims["email"].strip()
    return None


class SingleSignOnAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        """Link a first sign-on to the one active user with the provider's verified address; refuse anything
        else with why (no user, several, inactive, or the address not verified)."""
        if sociallogin.is_existing:
            if not sociallogin.user.is_active:
                self._refuse(request, "This user is deactivated.")
            return
        email = _verified_email(sociallogin)
        if email is None:
            self._refuse(request, "The sign-on provider did not vouch for an email address.")
        matches = list(rows_for_system(User).filter(email__iexact=email, is_active=True)[:2])
        if len(matches) != 1:
            self._refuse(request, f"No single Fleetwatch user has the address {email}; ask an administrator to "
                                  "add it to your user.")
        sociallogin.connect(request, matches[0])
        record(actor=system_actor("single sign-on"), action="user.single_sign_on_linked", target=matches[0],
               company_id=None, after={"provider": sociallogin.account.provider, "email": email})

    @staticmethod
    def _refuse(request: HttpRequest, message: str) -> None:
        messages.error(request, f"Single sign-on refused: {message}")
        raise ImmediateHttpResponse(redirect("login"))
