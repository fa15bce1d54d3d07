"""Compliance per company and MSP-wide, its daily history, and the report a technician sends the client
(CSV and PDF, on demand and mailed monthly), all read through the reader's scope."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone
from pypdf import PdfReader

from portal.access import actor_for_user
from portal.inventory.models import OutcomeState, PatchOutcome
from portal.patching import services
from portal.patching.compliance import compliance_by_company, history, take_snapshots, total
from portal.patching.models import ComplianceSnapshot
from portal.patching.reports import build_report, report_csv, report_pdf, send_due_reports
from portal.patching.status import refresh_patch_status
from tests import factories
from tests.patching.helpers import patch_policy, with_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(tenant_a, tenant_b):
    """Alpha: one fully patched device, one missing a critical update whose install failed, waiting for a
    restart; Bravo: one device needing an update, scanned long ago; and a device of another system."""
    patch_policy(name="Alpha patching", company=tenant_a.company)
    patched = with_agent(tenant_a.device)
    patched.updates_scanned_at = timezone.now()
    patched.save()
    behind = with_agent(factories.DeviceFactory(site=tenant_a.site, hostname="=cmd|' /C calc'!A0"))
    openssl = factories.pending_patch(behind, "openssl", category="security").update
    PatchOutcome.objects.create(device=behind, update=openssl, state=OutcomeState.FAILED, attempts=1)
    behind.reboot_pending_since = timezone.now()
    behind.updates_scanned_at = timezone.now()
    behind.save()
    bravo = with_agent(tenant_b.device)
    factories.pending_patch(bravo, "curl")
    bravo.updates_scanned_at = timezone.now() - timedelta(days=30)
    bravo.save()
    factories.DeviceFactory(site=tenant_a.site, hostname="imported-from-datto")  # no agent of ours: not counted
    refresh_patch_status()
    return tenant_a, tenant_b


def test_figures_per_company_and_in_total(fleet, operator_a, admin_user):
    everyone = compliance_by_company(actor=actor_for_user(admin_user))
    alpha, bravo = everyone
    assert (alpha.company_name, bravo.company_name) == ("Alpha Corp", "Bravo Corp")
    assert (alpha.figures.devices, alpha.figures.fully_patched, alpha.figures.missing_critical, alpha.figures.failed,
            alpha.figures.reboot_pending, alpha.figures.scanned_recently) == (2, 1, 1, 1, 1, 2)
    assert (bravo.figures.devices, bravo.figures.fully_patched, bravo.figures.scanned_recently) == (1, 0, 0)
    assert total(everyone).devices == 3 and total(everyone).percent("fully_patched") == 33
    scoped = compliance_by_company(actor=actor_for_user(operator_a))
    assert [entry.company_name for entry in scoped] == ["Alpha Corp"]


def test_daily_snapshots_make_the_history(fleet, operator_a, admin_user):
    tenant_a, _ = fleet
    today = timezone.localdate()
    ComplianceSnapshot.objects.create(company=tenant_a.company, day=today - timedelta(days=1), devices=2,
                                      fully_patched=0)
    ComplianceSnapshot.objects.create(company=tenant_a.company, day=today - timedelta(days=120), devices=9)
    assert take_snapshots() == 2
    assert take_snapshots() == 2  # again the same day: replaces the day's, never doubles it
    mine = history(actor=actor_for_user(operator_a))
    assert [(day, figures.devices, figures.fully_patched) for day, figures in mine] == [
        (today - timedelta(days=1), 2, 0), (today, 2, 1)]  # older than 90 days is not shown
    everyone = dict(history(actor=actor_for_user(admin_user)))
    assert everyone[today].devices == 3


def test_the_report_as_csv_and_pdf(fleet, operator_a):
    tenant_a, _ = fleet
    tenant_a.company.time_zone = "Europe/Berlin"
    report = build_report(actor=actor_for_user(operator_a), company=tenant_a.company,
                          now=datetime(2026, 12, 1, 8, 0, tzinfo=timezone.get_current_timezone()))
    rows = list(csv.reader(io.StringIO(report_csv(report))))
    assert rows[0][:2] == ["Patch compliance", "Alpha Corp"] and rows[0][2].endswith("CET")
    assert ["Fully patched", "1 of 2 (50 %)"] in rows
    devices = {row[0]: row for row in rows if len(row) == 9}
    assert devices["alpha-host-1"][3:5] == ["yes", "0"]
    # A host name that a spreadsheet would run as a formula is written as text.
    assert devices["'=cmd|' /C calc'!A0"][3:8] == ["no", "1", "1", "1", "yes"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(report_pdf(report))).pages)
    assert "Patch compliance: Alpha Corp" in text and "alpha-host-1" in text and "1 of 2 (50 %)" in text
    assert "Bravo" not in text


def test_monthly_reports_are_mailed_once_a_month_on_their_day(fleet, admin_a):
    tenant_a, tenant_b = fleet
    services.set_report_schedule(actor=actor_for_user(admin_a), company=tenant_a.company,
                                 recipients=["cio@alpha.example"], day_of_month=3)
    with pytest.raises(Exception, match="not an email address"):
        services.set_report_schedule(actor=actor_for_user(admin_a), company=tenant_a.company,
                                     recipients=["cio@alpha.example\nBcc: x@evil.example"])
    with pytest.raises(Exception, match="No such company"):
        services.set_report_schedule(actor=actor_for_user(admin_a), company=tenant_b.company,
                                     recipients=["x@bravo.example"])
    zone = timezone.get_current_timezone()
    assert send_due_reports(now=datetime(2026, 12, 2, 12, 0, tzinfo=zone)) == 0  # not its day yet
    assert send_due_reports(now=datetime(2026, 12, 3, 12, 0, tzinfo=zone)) == 1
    assert send_due_reports(now=datetime(2026, 12, 20, 12, 0, tzinfo=zone)) == 0  # sent this month already
    [message] = mail.outbox
    assert message.to == ["cio@alpha.example"] and "Alpha Corp" in message.subject
    assert sorted(name.rsplit(".", 1)[1] for name, _, _ in message.attachments) == ["csv", "pdf"]
    assert message.attachments[1][1].startswith("Patch compliance,Alpha Corp")
    assert send_due_reports(now=datetime(2027, 1, 3, 12, 0, tzinfo=zone)) == 1
    assert services.ComplianceReportSchedule.objects.get().last_sent_on == date(2027, 1, 3)
