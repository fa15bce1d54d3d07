"""The scheduler page: every scheduled job, on/off, interval, run now and its log, for all-company admins."""

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_q.models import Schedule, Task

from connectors.services import create_connector
from portal.access import actor_for_user
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(admin_user):
    call_command("sync_schedules", stdout=open("/dev/null", "w"))  # noqa: SIM115
    create_connector(actor=actor_for_user(admin_user), name="Pulseway", base_url="https://pulseway.example/v3/",
                     token_id="id", token_secret="secret")
    return Schedule.objects.all()


def test_every_job_is_listed_with_its_last_run(jobs, admin_user):
    sweep = Schedule.objects.get(name="agents: mark silent devices offline")
    Task.objects.create(id="t1", name="t1", func=sweep.func, group=sweep.name, started="2026-01-01T10:00Z",
                        stopped="2026-01-01T10:00:01Z", success=False, result="boom: database locked")
    page = logged_in(admin_user).get(reverse("scheduler")).content.decode()
    for name in ("agents: mark silent devices offline", "alerts: daily summary email", "network: poll due SNMP",
                 "connectors: sync Pulseway"):
        assert name in page, name
    assert "failed" in page and "hourly" in page and "daily" in page
    log = logged_in(admin_user).get(reverse("scheduler-job", args=[sweep.pk])).content.decode()
    assert "boom: database locked" in log


def test_disable_enable_interval_and_run_now(jobs, admin_user, monkeypatch):
    schedule = Schedule.objects.get(name__startswith="connectors: sync Pulseway")
    client = logged_in(admin_user)
    client.post(reverse("scheduler-enable", args=[schedule.pk]), {})
    schedule.refresh_from_db()
    assert schedule.repeats == 0  # django-q2 skips it
    client.post(reverse("scheduler-enable", args=[schedule.pk]), {"enabled": "on"})
    client.post(reverse("scheduler-interval", args=[schedule.pk]), {"minutes": "15"})
    schedule.refresh_from_db()
    assert schedule.repeats == -1 and schedule.minutes == 15
    refused = client.post(reverse("scheduler-interval", args=[schedule.pk]), {"minutes": "0"}, follow=True)
    assert "Between 1 minute and 7 days" in refused.content.decode()

    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: queued.append((func, args, kw)) or "id")
    client.post(reverse("scheduler-run-now", args=[schedule.pk]))
    assert queued == [("connectors.tasks.sync_connector", (schedule_args(schedule),), {"group": schedule.name})]


def schedule_args(schedule):
    import ast

    return ast.literal_eval(schedule.args)[0]


def test_only_all_company_admins_see_the_scheduler(jobs, admin_a, operator_a):
    schedule = Schedule.objects.first()
    for user in (admin_a, operator_a):
        client = logged_in(user)
        assert client.get(reverse("scheduler")).status_code == 404
        assert client.get(reverse("scheduler-job", args=[schedule.pk])).status_code == 404
        assert client.post(reverse("scheduler-run-now", args=[schedule.pk])).status_code == 404
