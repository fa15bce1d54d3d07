"""The event model now belongs to the events app (portal/events); its table is left in place."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("realtime", "0001_initial"),
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="RealtimeEvent")],
            database_operations=[],
        ),
    ]
