from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connectors.resources import CONNECTORS
        from connectors.services import SYNC_TASK
        from portal.builtin_jobs import describe_task
        from portal.pages import register

        register(CONNECTORS)
        describe_task(SYNC_TASK, "Imports companies, sites, groups, devices and contacts from the connector.")
