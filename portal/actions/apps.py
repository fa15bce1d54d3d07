from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "portal.actions"
    label = "actions"
    verbose_name = "Remote actions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import pre_delete

        from portal.inventory.models import Device

        def cancel_actions_of_deleted_device(sender: type, instance: Device, **kwargs: object) -> None:
            # A receiver, not the device service: sites and companies delete their devices by cascade too.
            # The actions stay in the history; what had not finished will never run.
            from portal.actions.delivery import cancel_unfinished_for_deleted_device

            cancel_unfinished_for_deleted_device(device_id=instance.pk)

        pre_delete.connect(cancel_actions_of_deleted_device, sender=Device, dispatch_uid="actions-device-deleted",
                           weak=False)
