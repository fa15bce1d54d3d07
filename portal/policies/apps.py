from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "portal.policies"
    label = "policies"
    verbose_name = "Automation policies"
    default_auto_field = "django.db.models.BigAutoField"
