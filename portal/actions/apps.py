from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "portal.actions"
    label = "actions"
    verbose_name = "Remote actions"
    default_auto_field = "django.db.models.BigAutoField"
