"""Upgrading: the per-company checks of earlier versions move into each company's own policy, assigned to it,
and keep watching the same devices."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("monitoring", "0005_camera_tags_networkdevice_tags"), ("policies", "0001_initial")]
AFTER = [("monitoring", "0006_checks_in_policies")]


def test_each_companys_checks_join_its_own_policy_assigned_to_it():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    acme = old.get_model("tenancy", "Company").objects.create(name="Acme")
    globex = old.get_model("tenancy", "Company").objects.create(name="Globex")
    Check = old.get_model("monitoring", "Check")
    for company, names in ((acme, ["CPU", "Disk"]), (globex, ["Offline"])):
        for name in names:
            Check.objects.create(company=company, name=name, kind="agent_cpu")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Policy, Assignment = new.get_model("policies", "Policy"), new.get_model("policies", "PolicyAssignment")
    for company_id, names in ((acme.pk, {"CPU", "Disk"}), (globex.pk, {"Offline"})):
        policy = Policy.objects.get(company_id=company_id)
        assert policy.company_default is True
        assert set(new.get_model("monitoring", "Check").objects.filter(policy=policy).values_list("name", flat=True)) \
            == names
        assert list(Assignment.objects.filter(policy=policy).values_list("level", "company_id", "exclude")) == [
            ("company", company_id, False)]

    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())  # back to the latest for what follows
