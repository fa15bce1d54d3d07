"""Checks belong to policies: each company's existing checks move into its own policy, assigned to it."""

import django.db.models.deletion
from django.db import migrations, models


def move_checks_into_company_policies(apps, schema_editor):
    Check = apps.get_model("monitoring", "Check")
    Company = apps.get_model("tenancy", "Company")
    Policy = apps.get_model("policies", "Policy")
    PolicyAssignment = apps.get_model("policies", "PolicyAssignment")
    for company in Company.objects.filter(pk__in=Check.objects.values("company_id")):
        policy = Policy.objects.create(company=company, name=f"{company.name} policy"[:150], company_default=True,
                                       description="The company's own checks.")
        PolicyAssignment.objects.create(policy=policy, level="company", company=company)
        Check.objects.filter(company=company).update(policy=policy)


class Migration(migrations.Migration):

    # The checks are moved in a transaction of their own: PostgreSQL refuses to alter the constraint on the new
    # column while the moved rows' deferred foreign-key checks are still pending in the same transaction.
    atomic = False

    dependencies = [
        ('monitoring', '0005_camera_tags_networkdevice_tags'),
        ('policies', '0001_initial'),
        ('tenancy', '0002_company_custom_fields_site_custom_fields'),
    ]

    operations = [
        migrations.AddField(
            model_name='check',
            name='policy',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='checks',
                                    to='policies.policy'),
        ),
        migrations.AlterField(
            model_name='check',
            name='company',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE,
                                    related_name='checks', to='tenancy.company'),
        ),
        migrations.RunPython(move_checks_into_company_policies, migrations.RunPython.noop, atomic=True),
        migrations.AlterField(
            model_name='check',
            name='policy',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='checks',
                                    to='policies.policy'),
        ),
    ]
