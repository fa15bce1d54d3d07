"""URL map: dashboard pages, the health endpoint, the admin."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic.base import RedirectView

from dashboard.api import whoami
from graph.views import graphql_view
from portal.health import health
from portal.operations.views import metrics
from realtime import agent_downloads, agent_http

urlpatterns = [
    path("api/health/", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("agent/install.sh", agent_downloads.install_sh, name="agent-install-sh"),
    path("agent/install.ps1", agent_downloads.install_ps1, name="agent-install-ps1"),
    path("agent/release.json", agent_downloads.release, name="agent-release"),
    path("agent/download/<str:name>", agent_downloads.download, name="agent-download"),
    path("api/whoami/", whoami, name="whoami"),
    path("api/agent/enroll/", agent_http.enroll, name="agent-enroll"),
    path("api/agent/heartbeat/", agent_http.heartbeat, name="agent-heartbeat"),
    path("graphql/", graphql_view, name="graphql"),
    path("admin/", admin.site.urls),
    path("favicon.ico", RedirectView.as_view(url=static("fleetwatch/icon.svg"), permanent=True)),
    path("", include("dashboard.urls")),
]
handler403 = 'dashboard.views.permission_denied'
