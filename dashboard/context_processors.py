"""Template context every page needs: the actor and what its role allows."""

from typing import Any

from django.http import HttpRequest

from portal.access import ANONYMOUS, Role


def actor(request: HttpRequest) -> dict[str, Any]:
    current = getattr(request, "actor", ANONYMOUS)
    return {
        "actor": current,
        "can_operate": current.has_role(Role.OPERATOR),
        "can_administer": current.has_role(Role.ADMIN),
    }
