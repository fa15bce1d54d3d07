from django.apps import AppConfig


class PatchingConfig(AppConfig):
    name = "portal.patching"
    label = "patching"
    verbose_name = "Patch management"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal.actions.finished import when_finished
        from portal.actions.models import ActionType
        from portal.builtin_jobs import register_jobs
        from portal.patching.results import record_install_outcomes
        from portal.patching.tasks import BUILT_IN_JOBS

        register_jobs(*BUILT_IN_JOBS)
        when_finished(ActionType.INSTALL_PATCHES, record_install_outcomes)
