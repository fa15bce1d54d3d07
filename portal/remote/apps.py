from django.apps import AppConfig


class RemoteConfig(AppConfig):
    name = "portal.remote"
    label = "remote"
    verbose_name = "Remote shell and files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.builtin_jobs import register_jobs
        from portal.remote.tasks import BUILT_IN_JOBS

        register_jobs(*BUILT_IN_JOBS)
