from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "portal.inventory"
    label = "inventory"
    verbose_name = "Devices"

    def ready(self) -> None:
        from portal.builtin_jobs import register_jobs
        from portal.inventory.tasks import BUILT_IN_JOBS

        register_jobs(*BUILT_IN_JOBS)
