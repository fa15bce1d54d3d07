from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Running the server for years: backups, deployment files, process beats, metrics."""

    name = "portal.operations"
    label = "operations"
    verbose_name = "Operations"
