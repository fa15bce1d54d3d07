"""``GET /metrics``: Prometheus figures of this host's processes and of the fleet, behind a bearer token."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from portal.operations.fleet_metrics import FleetCollector


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.FLEETWATCH_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set FLEETWATCH_METRICS_TOKEN.")
    supplied = request.headers.get("Authorization", "")
    if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("Send 'Authorization: Bearer <FLEETWATCH_METRICS_TOKEN>'.\n", status=401,
                                content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="fleetwatch-metrics"'
        return response
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(FleetCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
