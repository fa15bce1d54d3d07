from typing import Any

from django.apps import AppConfig


def close_request_connections(sender: Any, **kwargs: Any) -> None:
    """Close the database connections an HTTP request opened, once it is answered.

    Django's ASGI handler runs each request's synchronous code on a thread of its own, so a connection kept
    open for reuse (CONN_MAX_AGE) is never reused: it lingers until garbage collection, and a busy API ran
    PostgreSQL out of connections. On PostgreSQL closing hands the connection back to the process's pool;
    the sockets' database work runs on long-lived threads of its own (realtime.agent_db)."""
    from django.core.handlers.asgi import ASGIHandler
    from django.db import connections

    if isinstance(sender, type) and issubclass(sender, ASGIHandler):
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:
                connection.close()


class DashboardConfig(AppConfig):
    name = "dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from dashboard.action_resources import ACTION_RESOURCES
        from dashboard.dynamic_group_pages import DYNAMIC_GROUPS
        from dashboard.policy_pages import POLICIES
        from dashboard.remote_views import REMOTE_SESSIONS
        from dashboard.resources import CORE_RESOURCES
        from portal.pages import register

        register(*CORE_RESOURCES, DYNAMIC_GROUPS, POLICIES, *ACTION_RESOURCES, REMOTE_SESSIONS)
        from django.core.signals import request_finished
        from django.db.backends.signals import connection_created

        from portal.datafiles import protect_sqlite_files

        connection_created.connect(protect_sqlite_files, dispatch_uid="protect-sqlite-files")
        request_finished.connect(close_request_connections, dispatch_uid="close-request-connections")
