"""The compliance report a technician sends a client: one company's figures and each managed device's state,
as CSV and as PDF (fpdf2), on demand or mailed monthly. Read through the requester's scope like every page.

The PDF uses DejaVu Sans where the system has it (any script a company or host name is written in); without
it, the PDF's built-in Helvetica shows what it cannot draw as '?'.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMessage
from django.utils import timezone
from fpdf import FPDF
from fpdf.fonts import FontFace

from portal.access import Actor, system_actor, visible_to
from portal.inventory.models import Device
from portal.patching.compliance import CompanyCompliance, Figures, compliance_by_company, managed_devices
from portal.patching.models import ComplianceReportSchedule
from portal.patching.services import record_report_sent
from portal.tenancy.models import Company

logger = logging.getLogger(__name__)
UNICODE_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                 "/usr/share/fonts/TTF/DejaVuSans.ttf", "/Library/Fonts/Arial Unicode.ttf")
COLUMNS = ("Device", "Site", "OS", "Fully patched", "Updates needed", "Missing critical", "Failed installs",
           "Restart pending", "Last successful scan")


@dataclass(frozen=True)
class DeviceLine:
    hostname: str
    site: str
    os: str
    fully_patched: bool | None
    needed: int | None
    missing_critical: int | None
    failed: int | None
    reboot_pending: bool
    last_scan: datetime | None

    def cells(self, zone: object) -> list[str]:
        def number(value: int | None) -> str:
            return "not evaluated" if value is None else str(value)

        scanned = timezone.localtime(self.last_scan, zone).strftime("%Y-%m-%d %H:%M") if self.last_scan else "never"
        patched = "not evaluated" if self.fully_patched is None else ("yes" if self.fully_patched else "no")
        return [self.hostname, self.site, self.os, patched, number(self.needed), number(self.missing_critical),
                number(self.failed), "yes" if self.reboot_pending else "no", scanned]


@dataclass(frozen=True)
class Report:
    company: Company
    generated_at: datetime
    summary: Figures
    last_scan: datetime | None
    lines: list[DeviceLine]


def build_report(*, actor: Actor, company: Company, now: datetime | None = None) -> Report:
    """The report of a company the actor sees (callers look the company up through the actor's scope)."""
    now = now or timezone.now()
    entry = next((found for found in compliance_by_company(actor=actor, now=now) if found.company_id == company.pk),
                 CompanyCompliance(company.pk, company.name, Figures(), None))
    devices = managed_devices(visible_to(Device.objects.filter(company=company), actor)).select_related(
        "site", "patch_status").order_by("hostname", "pk")
    lines = []
    for device in devices:
        status = getattr(device, "patch_status", None)
        lines.append(DeviceLine(
            hostname=device.hostname, site=device.site.name, os=device.get_os_type_display(),
            fully_patched=status.fully_patched if status else None, needed=status.needed if status else None,
            missing_critical=status.missing_critical if status else None, failed=status.failed if status else None,
            reboot_pending=device.reboot_pending_since is not None, last_scan=device.updates_scanned_at))
    return Report(company=company, generated_at=now, summary=entry.figures, last_scan=entry.last_scan, lines=lines)


def _summary_rows(report: Report) -> list[tuple[str, str]]:
    figures = report.summary

    def share(name: str) -> str:
        percent = figures.percent(name)
        return f"{getattr(figures, name)} of {figures.devices}" + (f" ({percent} %)" if percent is not None else "")

    return [("Managed devices", str(figures.devices)), ("Fully patched", share("fully_patched")),
            ("Missing security or critical updates", share("missing_critical")),
            ("With failed installs", share("failed")), ("Waiting for a restart", share("reboot_pending")),
            ("Scanned successfully in the last 7 days", share("scanned_recently"))]


def report_csv(report: Report) -> str:
    zone = report.company.zone
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Patch compliance", report.company.name,
                     timezone.localtime(report.generated_at, zone).strftime("%Y-%m-%d %H:%M %Z")])
    for label, value in _summary_rows(report):
        writer.writerow([label, value])
    writer.writerow([])
    writer.writerow(COLUMNS)
    for line in report.lines:
        writer.writerow([_spreadsheet_safe(cell) for cell in line.cells(zone)])
    return out.getvalue()


def _spreadsheet_safe(cell: str) -> str:
    """A host name starting with = + - @ would run as a formula when the client opens the CSV in a spreadsheet."""
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


class _Document(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        font = next((path for path in (getattr(settings, "FLEETWATCH_REPORT_FONT", ""), *UNICODE_FONTS)
                     if path and Path(path).is_file()), None)
        self.headings = FontFace(emphasis="BOLD")
        if font:
            self.add_font("Body", "", font)
            bold = Path(font).with_name(Path(font).stem + "-Bold.ttf")
            if bold.is_file():
                self.add_font("Body", "B", str(bold))
            else:
                self.headings = FontFace(emphasis=None)
            self.family_name = "Body"
        else:
            self.family_name = "Helvetica"
        self.unicode = font is not None

    def text_of(self, value: str) -> str:
        return value if self.unicode else value.encode("latin-1", "replace").decode("latin-1")


def report_pdf(report: Report) -> bytes:
    zone = report.company.zone
    pdf = _Document()
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font(pdf.family_name, size=16)
    pdf.cell(0, 10, pdf.text_of(f"Patch compliance: {report.company.name}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family_name, size=9)
    stamp = timezone.localtime(report.generated_at, zone).strftime("%Y-%m-%d %H:%M %Z")
    pdf.cell(0, 6, pdf.text_of(f"Generated {stamp}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(pdf.family_name, size=11)
    with pdf.table(col_widths=(90, 60), width=150, align="LEFT", first_row_as_headings=False) as table:
        for label, value in _summary_rows(report):
            row = table.row()
            row.cell(pdf.text_of(label))
            row.cell(pdf.text_of(value))
    pdf.ln(4)
    pdf.set_font(pdf.family_name, size=8)
    if not report.lines:
        pdf.cell(0, 6, "No device of this company runs the Fleetwatch agent yet.", new_x="LMARGIN", new_y="NEXT")
    else:
        with pdf.table(col_widths=(50, 35, 20, 22, 22, 22, 22, 22, 32), headings_style=pdf.headings) as table:
            header = table.row()
            for column in COLUMNS:
                header.cell(column)
            for line in report.lines:
                row = table.row()
                for cell in line.cells(zone):
                    row.cell(pdf.text_of(cell))
    return bytes(pdf.output())


def report_name(report: Report, extension: str) -> str:
    safe = "".join(ch if ch.isalnum() else "-" for ch in report.company.name).strip("-")[:60] or "company"
    return f"patch-compliance-{safe}-{report.generated_at:%Y-%m-%d}.{extension}"


def send_due_reports(*, now: datetime | None = None) -> int:
    """Mail each enabled monthly report whose day has come in its company's zone and that was not sent this
    month (the daily job). Returns how many were sent."""
    now = now or timezone.now()
    sent = 0
    for schedule in ComplianceReportSchedule.objects.filter(enabled=True).select_related("company"):
        today = timezone.localtime(now, schedule.company.zone).date()
        if today.day < schedule.day_of_month or (
                schedule.last_sent_on and (schedule.last_sent_on.year, schedule.last_sent_on.month)
                == (today.year, today.month)):
            continue
        actor = system_actor("monthly compliance report")
        report = build_report(actor=actor, company=schedule.company, now=now)
        subject = " ".join(f"Patch compliance of {schedule.company.name}, {today:%B %Y}".split())
        message = EmailMessage(subject=subject, body=_mail_body(report), to=schedule.recipients)
        message.attach(report_name(report, "pdf"), report_pdf(report), "application/pdf")
        message.attach(report_name(report, "csv"), report_csv(report), "text/csv")
        try:
            message.send()
        except (OSError, BadHeaderError):  # the mail server is away: tried again tomorrow; the others go on
            logger.exception("the compliance report of company %s could not be sent", schedule.company_id)
            continue
        record_report_sent(schedule=schedule, actor=actor, on=today)
        sent += 1
    return sent


def _mail_body(report: Report) -> str:
    lines = [f"Patch compliance of {report.company.name}:", ""]
    lines += [f"- {label}: {value}" for label, value in _summary_rows(report)]
    lines += ["", "Each device's state is in the attached PDF and CSV."]
    return "\n".join(lines)
