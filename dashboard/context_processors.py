"""Template context every page needs: the actor and what its role allows."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from dashboard.navigation import sections_for
from portal.access import ANONYMOUS, Role


def actor(request: HttpRequest) -> dict[str, Any]:
    current = getattr(request, "actor", ANONYMOUS)
    sections = SimpleLazyObject(lambda: sections_for(actor=current, path=request.path))
    return {
        "actor": current,
        "can_operate": current.has_role(Role.OPERATOR),
        "can_administer": current.has_role(Role.ADMIN),
        "nav_sections": sections,
        # Single sign-on is offered on the sign-in page only when a provider is configured.
        "single_sign_on": bool(settings.SOCIALACCOUNT_PROVIDERS),
        "fleetwatch_version": settings.FLEETWATCH_VERSION,
    }
