"""Trigram indexes for the device list's search, on PostgreSQL only.

Searches match words anywhere in a field (``icontains``, which PostgreSQL runs as ``UPPER(col) LIKE``),
so a plain b-tree index cannot help; a trigram index on the same expression can, and the search keeps to
the device table (portal/listing.py) so the indexes combine. SQLite has no such index; its scan of the
device table is fast enough at fleet sizes."""

from django.db import migrations

INDEXED = {
    "inventory_device": ("hostname", "display_name", "os_version", "serial_number", "ip_addresses"),
    "tenancy_company": ("name",),
    "tenancy_site": ("name",),
}


def _index_name(table: str, column: str) -> str:
    return f"{table}_{column}_trgm"


def create_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    quote = schema_editor.quote_name
    for table, columns in INDEXED.items():
        for column in columns:
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {quote(_index_name(table, column))} ON {quote(table)} "
                                  f"USING gin (UPPER({quote(column)}::text) gin_trgm_ops)")


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, columns in INDEXED.items():
        for column in columns:
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(_index_name(table, column))}")


class Migration(migrations.Migration):

    dependencies = [
        ("inventory", "0004_device_serial_and_addresses"),
        ("tenancy", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
