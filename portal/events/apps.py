from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "portal.events"
    label = "events"
    verbose_name = "Realtime events"
    default_auto_field = "django.db.models.BigAutoField"
