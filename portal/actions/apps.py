from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "portal.actions"
    label = "actions"
    verbose_name = "Remote actions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from portal.actions.delivery import cancel_actions_of_deleted_device
        from portal.actions.scheduling import RUN_ACTION_SCHEDULE
        from portal.actions.tasks import BUILT_IN_JOBS
        from portal.builtin_jobs import describe_task, register_jobs
        from portal.inventory.models import Device

        register_jobs(*BUILT_IN_JOBS)
        describe_task(RUN_ACTION_SCHEDULE, "Queues the scheduled script or profile on its devices.")

        # A receiver, not the device service: sites and companies delete their devices by cascade too.
        pre_delete.connect(cancel_actions_of_deleted_device, sender=Device, dispatch_uid="actions-device-deleted")
