"""Small JSON endpoints for integrators (the full API is GraphQL)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from portal.tenancy.selectors import companies_for


@require_GET
def whoami(request: HttpRequest) -> JsonResponse:
    """Who the presented credentials act as: lets an integrator check a token before using it."""
    actor = request.actor
    if not actor.is_authenticated:
        return JsonResponse({"error": "unauthorized", "message": "Sign in or send a bearer token."}, status=401)
    return JsonResponse({
        "username": actor.label,
        "role": actor.role,
        "via_token": actor.via_token,
        "all_companies": actor.sees_all_companies,
        "companies": list(companies_for(actor=actor).values("id", "name")),
    })
