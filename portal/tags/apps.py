from django.apps import AppConfig


class TagsConfig(AppConfig):
    name = "portal.tags"
    label = "tags"
    verbose_name = "Tags"
    default_auto_field = "django.db.models.BigAutoField"
