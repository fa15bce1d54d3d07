from django.apps import AppConfig


class DynamicGroupsConfig(AppConfig):
    name = "portal.dynamic_groups"
    label = "dynamic_groups"
    verbose_name = "Dynamic groups"
    default_auto_field = "django.db.models.BigAutoField"
