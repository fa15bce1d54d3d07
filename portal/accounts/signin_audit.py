"""Sign-ins, failed sign-ins and lockouts land in the audit log (with the address they came from).

Receivers, because Django's authentication and django-axes make these events, not a service of ours."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed

from portal.accounts.middleware import client_ip
from portal.audit.models import AuditEvent


def _record(*, action: str, username: str, request: Any, user_id: int | None = None) -> None:
    label = (username or "(no user name)")[:150]
    AuditEvent.objects.create(user_id=user_id, actor_label=label, action=action, object_type="accounts.user",
                              object_id=str(user_id or ""), object_repr=label,
                              ip_address=client_ip(request) if request is not None else None,
                              after={"username": label})


def signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    _record(action="user.signed_in", username=user.get_username(), request=request, user_id=user.pk)


def sign_in_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    _record(action="user.sign_in_failed", username=str(credentials.get("username") or ""), request=request)


def locked_out(sender: Any, request: Any, username: str | None = None, ip_address: str | None = None,
               **kwargs: Any) -> None:
    _record(action="user.locked_out", username=str(username or ""), request=request)


def connect() -> None:
    from axes.signals import user_locked_out

    user_logged_in.connect(signed_in, dispatch_uid="audit-signed-in")
    user_login_failed.connect(sign_in_failed, dispatch_uid="audit-sign-in-failed")
    user_locked_out.connect(locked_out, dispatch_uid="audit-locked-out")
