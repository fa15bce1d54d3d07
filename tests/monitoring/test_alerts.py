"""Checks and alerts: consecutive failures, one alert per check and object, auto-resolve, acknowledge,
maintenance windows, and notifications to a real local SMTP server and a local Slack stand-in."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from monitoring import evaluation, notifications, services
from monitoring.models import Alert, Camera, Check, CheckKind, MaintenanceWindow, NetworkDevice, Severity
from portal.audit.models import AuditEvent
from portal.inventory.models import Device
from portal.policies.services import company_policy
from tests.monitoring.conftest import free_udp_port

pytestmark = pytest.mark.django_db


def _cpu_check(company, **extra) -> Check:
    return Check.objects.create(
        company=company, policy=company_policy(company=company), name="CPU", kind=CheckKind.AGENT_CPU,
        warning_threshold=85, critical_threshold=95, failures_before_alert=2, **extra)


def _set_cpu(device, value: float) -> None:
    Device.objects.filter(pk=device.pk).update(cpu_percent=value, status="online")


def test_failures_in_a_row_one_alert_then_auto_resolve(tenant_a):
    check = _cpu_check(tenant_a.company)
    _set_cpu(tenant_a.device, 97)
    assert evaluation.evaluate_check(check=check) == []  # one failure is not enough
    [alert] = evaluation.evaluate_check(check=check)
    assert alert.severity == Severity.CRITICAL and "97 %" in alert.message
    _set_cpu(tenant_a.device, 90)
    assert evaluation.evaluate_check(check=check) == []  # deduplicated: the same alert, now a warning
    alert.refresh_from_db()
    assert Alert.objects.count() == 1 and alert.severity == Severity.MEDIUM and alert.resolved_at is None
    _set_cpu(tenant_a.device, 12)
    evaluation.evaluate_check(check=check)
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_at is not None
    _set_cpu(tenant_a.device, 99)  # a new problem later is a new alert, after two failures again
    evaluation.evaluate_check(check=check)
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 0
    evaluation.evaluate_check(check=check)
    assert Alert.objects.filter(resolved_at__isnull=True).count() == 1 and Alert.objects.count() == 2


def test_acknowledge_records_who_when_and_note(tenant_a, actor_of, operator_a, viewer_a):
    check = _cpu_check(tenant_a.company)
    _set_cpu(tenant_a.device, 99)
    evaluation.evaluate_check(check=check)
    [alert] = evaluation.evaluate_check(check=check)
    with pytest.raises(PermissionDenied):
        services.acknowledge_alert(actor=actor_of(viewer_a), alert=alert)
    services.acknowledge_alert(actor=actor_of(operator_a), alert=alert, note="Looking at the backup job")
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by_id, alert.acknowledgement_note) == (
        "acknowledged", operator_a.pk, "Looking at the backup job")
    assert AuditEvent.objects.filter(action="alert.acknowledged").exists()


def test_maintenance_window_suppresses_new_alerts(tenant_a):
    check = _cpu_check(tenant_a.company)
    _set_cpu(tenant_a.device, 99)
    now = timezone.now()
    window = MaintenanceWindow.objects.create(company=tenant_a.company, site=tenant_a.site, starts_at=now,
                                              ends_at=now + timedelta(hours=1), reason="firmware upgrades")
    for _ in range(3):
        assert evaluation.evaluate_check(check=check) == []
    window.ends_at = timezone.now()
    window.save()
    assert len(evaluation.evaluate_check(check=check)) == 1  # the window closed; the problem is still there


def test_network_camera_and_default_checks(tenant_a):
    # A new company got the defaults when it was created; running it again adds nothing.
    assert set(Check.objects.filter(company=tenant_a.company).values_list("kind", flat=True)) == {
        spec["kind"] for spec in services.DEFAULT_CHECKS}
    Check.objects.filter(company=tenant_a.company, kind=CheckKind.AGENT_CPU).update(warning_threshold=70)
    assert services.ensure_default_checks(company=tenant_a.company) == 0
    assert Check.objects.get(company=tenant_a.company, kind=CheckKind.AGENT_CPU).warning_threshold == 70
    NetworkDevice.objects.create(company=tenant_a.company, site=tenant_a.site, name="edge", host="192.0.2.1",
                                 community="c", status="timeout", status_detail="No answer")
    Camera.objects.create(company=tenant_a.company, site=tenant_a.site, name="dock", host="192.0.2.9",
                          rtsp_url="rtsp://192.0.2.9/s", status="auth_failed")
    for _ in range(2):
        evaluation.evaluate_all_checks()
    kinds = set(Alert.objects.values_list("kind", flat=True))
    assert {CheckKind.NETWORK_UNREACHABLE, CheckKind.CAMERA_AUTH_FAILED} <= kinds


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"


def test_high_alerts_reach_email_and_slack_at_once(tenant_a, settings):
    inbox = _Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_udp_port())
    smtp.start()
    posted: list[dict] = []

    class Slack(BaseHTTPRequestHandler):
        def do_POST(self):
            posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    slack = HTTPServer(("127.0.0.1", 0), Slack)
    threading.Thread(target=slack.serve_forever, daemon=True).start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", smtp.port, False
    settings.FLEETWATCH_ALERT_EMAILS = ["noc@msp.example"]
    settings.FLEETWATCH_SLACK_WEBHOOK_URL = f"http://127.0.0.1:{slack.server_port}/hooks/T000/B000"
    settings.FLEETWATCH_BASE_URL = "https://rmm.example.com"
    try:
        Check.objects.all().delete()  # only the two checks below
        own = company_policy(company=tenant_a.company)
        Check.objects.create(company=tenant_a.company, policy=own, name="Edge down",
                             kind=CheckKind.NETWORK_UNREACHABLE, failures_before_alert=1,
                             critical_severity=Severity.HIGH)
        Check.objects.create(company=tenant_a.company, policy=own, name="Cam auth", kind=CheckKind.CAMERA_AUTH_FAILED,
                             failures_before_alert=1, critical_severity=Severity.MEDIUM)
        NetworkDevice.objects.create(company=tenant_a.company, site=tenant_a.site, name="edge-fw", host="192.0.2.1",
                                     community="c", status="unreachable", status_detail="host unknown")
        Camera.objects.create(company=tenant_a.company, site=tenant_a.site, name="dock", host="192.0.2.9",
                              rtsp_url="rtsp://192.0.2.9/s", status="auth_failed")
        evaluation.evaluate_all_checks()
        high = Alert.objects.get(kind=CheckKind.NETWORK_UNREACHABLE)
        assert len(inbox.messages) == 1 and len(posted) == 1  # the medium camera alert is not sent at once
        assert "Alpha Corp" in inbox.messages[0] and f"https://rmm.example.com/alerts/{high.pk}/" in inbox.messages[0]
        assert "Alpha Corp" in posted[0]["text"] and f"/alerts/{high.pk}/" in posted[0]["text"]
        assert high.notified_at is not None
        evaluation.evaluate_all_checks()
        assert len(inbox.messages) == 1  # still the same open alert: nobody is told twice
        assert notifications.send_daily_summary() == 2 and "Daily alert summary" in inbox.messages[-1]
    finally:
        smtp.stop()
        slack.shutdown()


def test_alert_pages_filter_and_acknowledge(tenant_a, operator_a, viewer_a):
    from django.urls import reverse

    from tests.conftest import logged_in

    check = _cpu_check(tenant_a.company)
    _set_cpu(tenant_a.device, 99)
    evaluation.evaluate_check(check=check)
    [alert] = evaluation.evaluate_check(check=check)
    client = logged_in(operator_a)
    listing = client.get(reverse("resource-list", args=["alerts"]), {"severity": "critical", "per_page": 10})
    assert reverse("resource-detail", args=["alerts", alert.pk]) in listing.content.decode()
    other = client.get(reverse("resource-list", args=["alerts"]), {"severity": "low"}).content.decode()
    assert reverse("resource-detail", args=["alerts", alert.pk]) not in other
    assert logged_in(viewer_a).post(reverse("alert-acknowledge", args=[alert.pk])).status_code == 403
    client.post(reverse("alert-acknowledge", args=[alert.pk]), {"note": "on it"})
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledgement_note == "on it"


def test_check_and_maintenance_pages(tenant_a, tenant_b, operator_a):
    from django.urls import reverse

    from tests.conftest import logged_in

    client = logged_in(operator_a)
    created = client.post(reverse("resource-create", args=["checks"]), {
        "company": tenant_a.company.pk, "name": "nginx must run", "kind": "service_not_running",
        "parameter": "nginx.service", "failures_before_alert": 2, "warning_severity": "medium",
        "critical_severity": "high", "enabled": "on"})
    assert created.status_code == 302, created.content.decode()[:1500]
    assert Check.objects.get(name="nginx must run").parameter == "nginx.service"
    listing = client.get(reverse("resource-list", args=["checks"])).content.decode()
    assert "nginx must run" in listing and "Bravo" not in listing
    window = client.post(reverse("resource-create", args=["maintenance"]), {
        "company": tenant_a.company.pk, "site": tenant_a.site.pk, "starts_at": "2026-12-01T22:00",
        "ends_at": "2026-12-01T23:00", "reason": "switch firmware"})
    assert window.status_code == 302 and MaintenanceWindow.objects.get().reason == "switch firmware"
    backwards = client.post(reverse("resource-create", args=["maintenance"]), {
        "company": tenant_a.company.pk, "starts_at": "2026-12-01T22:00", "ends_at": "2026-12-01T21:00"})
    assert "must end after it starts" in backwards.content.decode()


def test_graphql_checks_windows_and_acknowledge(gql_as, tenant_a, operator_a):
    from tests.graphql_client import global_id

    gql = gql_as(operator_a)
    created = gql("""mutation ($c: ID!) { createCheck(input: {company: $c, name: "Spooler", kind: "service_not_running",
        parameter: "spooler", failuresBeforeAlert: 1}) { node { id name failuresBeforeAlert } errors { message } } }""",
                  {"c": global_id("Company", tenant_a.company.pk)})["data"]["createCheck"]
    assert created["errors"] == [] and created["node"]["failuresBeforeAlert"] == 1
    updated = gql("""mutation ($id: ID!) { updateCheck(input: {id: $id, failuresBeforeAlert: 4, enabled: false}) {
        node { failuresBeforeAlert enabled } } }""", {"id": created["node"]["id"]})["data"]["updateCheck"]["node"]
    assert updated == {"failuresBeforeAlert": 4, "enabled": False}
    window = gql("""mutation ($c: ID!) { createMaintenanceWindow(input: {company: $c, startsAt: "2030-01-01T00:00:00Z",
        endsAt: "2030-01-01T02:00:00Z", reason: "UPS swap"}) { node { reason } errors { message } } }""",
                 {"c": global_id("Company", tenant_a.company.pk)})["data"]["createMaintenanceWindow"]
    assert window["node"]["reason"] == "UPS swap"
    check = _cpu_check(tenant_a.company)
    _set_cpu(tenant_a.device, 99)
    evaluation.evaluate_check(check=check)
    [alert] = evaluation.evaluate_check(check=check)
    acknowledged = gql("""mutation ($id: ID!) { acknowledgeAlert(input: {id: $id, note: "rebooting the VM"}) {
        node { status acknowledgedByLabel acknowledgementNote } } }""", {"id": global_id("Alert", alert.pk)})
    assert acknowledged["data"]["acknowledgeAlert"]["node"] == {
        "status": "acknowledged", "acknowledgedByLabel": "operator-a", "acknowledgementNote": "rebooting the VM"}
    listed = gql('{ alerts(filters: {severity: {exact: "critical"}}) { totalCount } }')
    assert listed["data"]["alerts"]["totalCount"] == 1


def test_device_pages_open_a_window_for_that_device(tenant_a, operator_a):
    from django.urls import reverse

    from tests.conftest import logged_in

    client = logged_in(operator_a)
    page = client.get(reverse("resource-detail", args=["devices", tenant_a.device.pk])).content.decode()
    key = f"device:{tenant_a.device.pk}"
    assert f"object_key={key}" in page
    form = client.get(reverse("resource-create", args=["maintenance"]),
                      {"company": tenant_a.company.pk, "site": tenant_a.site.pk, "object_key": key})
    assert f'value="device:{tenant_a.device.pk}"' in form.content.decode()
