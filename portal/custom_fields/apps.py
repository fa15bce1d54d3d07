from django.apps import AppConfig


class CustomFieldsConfig(AppConfig):
    name = "portal.custom_fields"
    label = "custom_fields"
    verbose_name = "Custom fields"
    default_auto_field = "django.db.models.BigAutoField"
