from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "portal.web"
    label = "web"
    verbose_name = "Dashboard"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from portal.datafiles import protect_sqlite_files

        connection_created.connect(protect_sqlite_files, dispatch_uid="protect-sqlite-files")
