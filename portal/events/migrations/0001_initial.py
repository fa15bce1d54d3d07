"""The event table moves from the realtime app to the events app: the table stays as it is."""

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("realtime", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RealtimeEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("group", models.CharField(max_length=100)),
                        ("message", models.JSONField()),
                    ],
                    options={"ordering": ["id"], "db_table": "realtime_realtimeevent"},
                ),
            ],
            database_operations=[],
        ),
    ]
