"""Alert routing and self-healing per policy: routes by severity to email, a webhook (a stand-in server that
fails first: retried with backoff, every attempt on the alert's timeline), reminders while open, notices on
resolve, and a library script run on the alert's device."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from monitoring import alert_routing, evaluation
from monitoring.models import Alert, AlertNotification, Check, CheckKind, NetworkDevice, NotificationStatus
from monitoring.services import create_check
from portal.access import system_actor
from portal.actions import library
from portal.actions.models import Action
from portal.inventory.models import Device
from portal.policies.models import Level
from portal.policies.services import assign_policy, create_policy
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db
ADMIN = system_actor("admin")


@pytest.fixture
def policy(tenant_a, tenant_b):
    Check.objects.all().delete()  # only this policy's check
    made = create_policy(actor=ADMIN, name="Servers", company=tenant_a.company)
    assign_policy(actor=ADMIN, policy=made, level=Level.COMPANY, target=tenant_a.company)
    create_check(actor=ADMIN, policy=made, name="CPU", kind=CheckKind.AGENT_CPU, warning_threshold=80,
                 critical_threshold=95, failures_before_alert=1)
    return made


def _cpu(device, percent):
    Device.objects.filter(pk=device.pk).update(status="online", cpu_percent=percent)


class _Webhook:
    """A stand-in webhook: answers 500 to the first ``failures`` posts, then 200; keeps every body."""

    def __init__(self, failures: int) -> None:
        self.bodies: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                owner.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(500 if len(owner.bodies) <= failures else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


def test_a_failing_webhook_is_retried_with_backoff_until_it_answers(tenant_a, policy):
    hook = _Webhook(failures=2)
    alert_routing.create_route(actor=ADMIN, policy=policy, name="NOC", kind="webhook", url=hook.url,
                               min_severity="medium")
    _cpu(tenant_a.device, 99)
    evaluation.evaluate_all_checks()  # opens the alert, queues and tries at once: the first 500
    note = AlertNotification.objects.get()
    assert (note.status, note.attempts, note.last_error) == (NotificationStatus.PENDING, 1,
                                                             "RuntimeError: HTTP 500 from the webhook")
    assert alert_routing.deliver_due() == {"sent": 0, "retrying": 0, "failed": 0}  # not due yet
    later = timezone.now() + timedelta(minutes=1, seconds=5)
    assert alert_routing.deliver_due(now=later)["retrying"] == 1  # the second 500: 2 minutes next
    note.refresh_from_db()
    assert note.next_attempt_at >= later + timedelta(minutes=2) - timedelta(seconds=1)
    assert alert_routing.deliver_due(now=later + timedelta(minutes=3))["sent"] == 1
    note.refresh_from_db()
    assert (note.status, note.attempts) == (NotificationStatus.SENT, 3)
    body = hook.bodies[-1]
    assert body["event"] == "opened" and body["alert"]["severity"] == "critical"
    assert body["alert"]["company"] == tenant_a.company.name and body["alert"]["policy"] == "Servers"
    hook.server.shutdown()


def test_a_channel_that_never_answers_is_given_up_and_shown(tenant_a, policy):
    alert_routing.create_route(actor=ADMIN, policy=policy, name="Dead", kind="webhook",
                               url="http://127.0.0.1:9/never")
    _cpu(tenant_a.device, 99)
    evaluation.evaluate_all_checks()
    moment = timezone.now()
    for _ in range(alert_routing.MAX_ATTEMPTS):
        moment += timedelta(minutes=alert_routing.MAX_BACKOFF_MINUTES)
        alert_routing.deliver_due(now=moment)
    note = AlertNotification.objects.get()
    assert (note.status, note.attempts) == (NotificationStatus.FAILED, alert_routing.MAX_ATTEMPTS)
    page = logged_in_admin(tenant_a).get(reverse("resource-detail", args=["alerts", note.alert_id])).content.decode()
    assert "Failed (gave up)" in page and "ConnectError" in page


def logged_in_admin(tenant):
    from tests.factories import UserFactory

    return logged_in(UserFactory(username="alpha-admin", role="admin", companies=[tenant.company]))


def test_severity_reminders_and_resolve(tenant_a, policy):
    alert_routing.create_route(actor=ADMIN, policy=policy, name="On call", kind="email",
                               emails=["oncall@msp.example"], min_severity="critical", on_resolve=True,
                               renotify_minutes=30)
    _cpu(tenant_a.device, 85)  # a warning: medium, below the route's critical
    evaluation.evaluate_all_checks()
    assert not AlertNotification.objects.exists() and mail.outbox == []
    _cpu(tenant_a.device, 99)  # now critical (the same alert, updated: not "opened" again)
    Alert.objects.all().delete()
    evaluation.evaluate_all_checks()
    assert [m.to for m in mail.outbox] == [["oncall@msp.example"]]
    assert "Critical" in mail.outbox[0].subject and tenant_a.company.name in mail.outbox[0].subject

    assert alert_routing.queue_reminders() == 0  # sent just now
    assert alert_routing.queue_reminders(now=timezone.now() + timedelta(minutes=31)) == 1
    alert_routing.deliver_due()
    assert "still open" in mail.outbox[-1].subject

    _cpu(tenant_a.device, 10)
    evaluation.evaluate_all_checks()
    events = list(AlertNotification.objects.order_by("pk").values_list("event", "status"))
    assert events == [("opened", "sent"), ("reminder", "sent"), ("resolved", "sent")]
    assert "resolved" in mail.outbox[-1].subject


def test_self_healing_runs_a_script_on_the_device_and_refuses_other_objects(tenant_a, policy):
    script = library.create_script(actor=ADMIN, name="Restart agent service", language="bash",
                                   content="systemctl restart something")
    alert_routing.create_route(actor=ADMIN, policy=policy, name="Heal", kind="script", script=script,
                               min_severity="medium")
    _cpu(tenant_a.device, 99)
    evaluation.evaluate_all_checks()
    note = AlertNotification.objects.get()
    assert note.status == NotificationStatus.SENT and note.action is not None
    action = Action.objects.get()
    assert (action.device_id, action.title, action.requested_by_label) == (
        tenant_a.device.pk, "Run Restart agent service", f"alert {note.alert_id}")

    create_check(actor=ADMIN, policy=policy, name="Edge", kind=CheckKind.NETWORK_UNREACHABLE,
                 failures_before_alert=1)
    NetworkDevice.objects.create(company=tenant_a.company, site=tenant_a.site, name="edge", host="192.0.2.1",
                                 community="public", status="timeout")
    evaluation.evaluate_all_checks()
    refused = AlertNotification.objects.exclude(pk=note.pk).get()
    assert refused.status == NotificationStatus.FAILED and "about a device" in refused.last_error


def test_routes_are_checked_and_kept_to_the_policy_writers(tenant_a, policy, admin_a, actor_of):
    for kind, fields, message in (
            ("webhook", {"url": "http://192.0.2.7/hook"}, "https"), ("email", {"emails": ["not an address"]},
                                                                    "not an email address"),
            ("script", {}, "library script"), ("email", {"emails": ["a@b.example"], "on_open": False}, "opens")):
        with pytest.raises(ValidationError, match=message):
            alert_routing.create_route(actor=ADMIN, policy=policy, name="bad", kind=kind, **fields)
    shared = create_policy(actor=ADMIN, name="Everyone")
    with pytest.raises(PermissionDenied):
        alert_routing.create_route(actor=actor_of(admin_a), policy=shared, name="mine", kind="email",
                                   emails=["a@b.example"])
    route = alert_routing.create_route(actor=actor_of(admin_a), policy=policy, name="Team", kind="slack",
                                       url="https://hooks.slack.example/services/T/B/secret")
    assert route.url == "https://hooks.slack.example/services/T/B/secret"
    page = logged_in_admin(tenant_a).get(reverse("resource-detail", args=["alert-routes", route.pk])).content
    assert b"secret" not in page


def test_graphql_routes_keep_the_url_secret_and_alerts_show_their_notifications(tenant_a, policy, gql_as, admin_a):
    from tests.graphql_client import global_id

    create = "mutation ($input: AlertRouteInput!) { createAlertRoute(input: $input) { node { name kind hasUrl " \
             "minSeverity } errors { field message code } } }"
    made = gql_as(admin_a)(create, {"input": {"policy": global_id("Policy", policy.pk), "name": "Hook",
                                              "kind": "webhook", "url": "http://127.0.0.1:9/x",
                                              "minSeverity": "medium"}})["data"]["createAlertRoute"]
    assert made == {"node": {"name": "Hook", "kind": "webhook", "hasUrl": True, "minSeverity": "medium"},
                    "errors": []}
    bad = gql_as(admin_a)(create, {"input": {"policy": global_id("Policy", policy.pk), "name": "Bad",
                                             "kind": "webhook", "url": "ftp://x"}})["data"]["createAlertRoute"]
    assert bad["errors"][0]["field"] == "url"
    _cpu(tenant_a.device, 99)
    evaluation.evaluate_all_checks()
    alerts = gql_as(admin_a)("{ alerts { edges { node { notifications { edges { node { event status attempts "
                             "routeLabel } } } } } } }")["data"]["alerts"]["edges"]
    assert alerts[0]["node"]["notifications"]["edges"][0]["node"] == {
        "event": "opened", "status": "pending", "attempts": 1, "routeLabel": "Webhook (JSON POST): Hook"}


def test_only_the_routes_writers_see_where_it_sends(tenant_a, policy, gql_as, admin_a, operator_a):
    alert_routing.create_route(actor=ADMIN, policy=policy, name="NOC", kind="email", emails=["noc@msp.example"])
    query = "{ alertRoutes { edges { node { name emails hasUrl } } } }"
    assert gql_as(admin_a)(query)["data"]["alertRoutes"]["edges"][0]["node"]["emails"] == ["noc@msp.example"]
    assert gql_as(operator_a)(query)["data"]["alertRoutes"]["edges"][0]["node"] == {
        "name": "NOC", "emails": [], "hasUrl": False}


def test_a_freshservice_route_opens_a_ticket_through_the_connector(tenant_a, policy, admin_a, actor_of):
    from connectors.models import Connector
    from tests.connectors.freshservice_standin import API_KEY, FreshserviceStandIn, sample_data

    api = FreshserviceStandIn(sample_data())
    api.start()
    try:
        connector = Connector.objects.create(name="Freshservice", kind="freshservice",
                                             base_url=f"{api.origin}/api/v2/", token_secret=API_KEY)
        with pytest.raises(PermissionDenied, match="admin who sees all companies"):
            alert_routing.create_route(actor=actor_of(admin_a), policy=policy, name="Tickets", kind="freshservice",
                                       connector=connector, emails=["noc@msp.example"])
        with pytest.raises(ValidationError, match="one email address"):
            alert_routing.create_route(actor=ADMIN, policy=policy, name="Tickets", kind="freshservice",
                                       connector=connector, emails=[])
        alert_routing.create_route(actor=ADMIN, policy=policy, name="Tickets", kind="freshservice",
                                   connector=connector, emails=["noc@msp.example"], min_severity="medium")
        _cpu(tenant_a.device, 99)
        evaluation.evaluate_all_checks()
        note = AlertNotification.objects.get()
        assert (note.status, note.external_ref) == (NotificationStatus.SENT, "Freshservice ticket #1000")
        ticket = api.tickets[0]
        assert (ticket["email"], ticket["priority"], ticket["status"]) == ("noc@msp.example", 4, 2)
        assert tenant_a.company.name in ticket["subject"] and "/alerts/" in ticket["description"]
    finally:
        api.stop()
