"""URL map: dashboard pages, the health endpoint, the admin."""

from django.contrib import admin
from django.urls import include, path

from graph.views import graphql_view
from portal.health import health
from portal.web import agent_api
from portal.web.api import whoami

urlpatterns = [
    path("api/health/", health, name="health"),
    path("api/whoami/", whoami, name="whoami"),
    path("api/agent/enroll/", agent_api.enroll, name="agent-enroll"),
    path("api/agent/heartbeat/", agent_api.heartbeat, name="agent-heartbeat"),
    path("graphql/", graphql_view, name="graphql"),
    path("admin/", admin.site.urls),
    path("", include("portal.web.urls")),
]
handler403 = 'portal.web.views.permission_denied'
