from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Network monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from monitoring import checks  # noqa: F401  (registers the system checks)
        from monitoring.resources import MONITORING_RESOURCES
        from monitoring.services import default_checks_for_new_company
        from monitoring.tasks import BUILT_IN_JOBS
        from portal.builtin_jobs import register_jobs
        from portal.pages import register
        from portal.tenancy.models import Company

        register(*MONITORING_RESOURCES)
        register_jobs(*BUILT_IN_JOBS)
        # Tenancy knows nothing of monitoring; a new company gets its default checks from here.
        post_save.connect(default_checks_for_new_company, sender=Company, dispatch_uid="monitoring-default-checks")
