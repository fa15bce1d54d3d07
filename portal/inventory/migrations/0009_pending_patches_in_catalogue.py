"""Every pending patch stored before the catalogue gets its catalogue row (by source, id and an unknown
version), so the catalogue starts with what the fleet already reported."""

from django.db import migrations

KNOWN_SOURCES = {"windows_update", "apt", "dnf", "softwareupdate", "winget", "brew"}
SEVERITIES = {"critical", "important", "moderate", "low"}


def move_into_catalogue(apps, schema_editor):
    PendingPatch = apps.get_model("inventory", "PendingPatch")
    PatchUpdate = apps.get_model("inventory", "PatchUpdate")
    unknown = []
    catalogue = {}
    for row in PendingPatch.objects.all().iterator(chunk_size=2000):
        source = row.source if row.source in KNOWN_SOURCES else ("windows_update" if row.source == "windows" else "")
        if not source:
            unknown.append(row.pk)
            continue
        key = (source, row.patch_id)
        if key not in catalogue:
            severity = row.severity.lower() if row.severity.lower() in SEVERITIES else ""
            catalogue[key] = PatchUpdate.objects.get_or_create(
                source=source, identifier=row.patch_id, version="",
                defaults={"title": row.title or row.patch_id, "severity": severity,
                          "category": "security" if "security" in row.title.lower() else "update"})[0].pk
        PendingPatch.objects.filter(pk=row.pk).update(update_id=catalogue[key])
    # A row of no known source cannot be installed or counted; the next inventory reports it again.
    PendingPatch.objects.filter(pk__in=unknown).delete()


class Migration(migrations.Migration):

    dependencies = [("inventory", "0008_patch_catalogue")]

    operations = [migrations.RunPython(move_into_catalogue, migrations.RunPython.noop)]
