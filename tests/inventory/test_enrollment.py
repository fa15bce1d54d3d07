"""Enrollment tokens and the enrollment endpoint; the HTTPS heartbeat fallback."""

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token, enroll_agent, revoke_enrollment_token
from portal.inventory.models import AgentCredential, Device, EnrollmentToken, MetricSample
from portal.tenancy.models import Group, Site

pytestmark = pytest.mark.django_db


def _enroll(token: str, facts: dict | None = None):
    body = {"token": token, "facts": facts or {"hostname": "new-pc", "os_type": "windows", "os_version": "11"}}
    return Client().post("/api/agent/enroll/", json.dumps(body), content_type="application/json")


@pytest.fixture
def issued(tenant_a):
    return create_enrollment_token(actor=system_actor(), site=tenant_a.site, group=tenant_a.group, name="rollout",
                                   max_uses=2)


def test_enrollment_creates_a_device_where_the_server_says(issued, tenant_a, tenant_b):
    response = _enroll(issued.plaintext, {"hostname": "new-pc", "os_type": "windows", "company": tenant_b.company.pk,
                                          "site": tenant_b.site.pk})
    assert response.status_code == 201
    body = response.json()
    device = Device.objects.get(pk=body["device_id"])
    assert (device.company, device.site, device.group) == (tenant_a.company, tenant_a.site, tenant_a.group)
    assert device.os_type == "windows" and body["agent_token"].startswith("fwa_")
    assert "signing_public_key" in body
    credential = AgentCredential.objects.get(device=device)
    assert body["agent_token"].rsplit("_", 1)[1] not in credential.secret_digest


@pytest.mark.parametrize("state", ["expired", "revoked", "used up"])
def test_unusable_tokens_are_refused(issued, state):
    if state == "expired":
        EnrollmentToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        revoke_enrollment_token(actor=system_actor(), token=issued.token)
    else:
        EnrollmentToken.objects.filter(pk=issued.token.pk).update(use_count=2)
    before = Device.objects.count()
    response = _enroll(issued.plaintext)
    assert response.status_code == 403 and state in response.json()["message"]
    assert Device.objects.count() == before


def test_max_uses_counts(issued):
    assert _enroll(issued.plaintext).status_code == 201
    assert _enroll(issued.plaintext).status_code == 201
    assert _enroll(issued.plaintext).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_concurrent_enrollments_never_take_more_uses_than_the_token_has(tenant_a):
    """The use is counted last, in one conditional UPDATE: enrollments racing for a token's last uses get
    at most max_uses devices between them, and a loser leaves no device or credential behind."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from portal.inventory.enrollment import EnrollmentRefused

    issued = create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="race", max_uses=5)

    def enroll(number: int) -> bool:
        try:
            enroll_agent(enrollment_token=issued.plaintext, facts={"hostname": f"race-{number}", "os_type": "linux"})
            return True
        except EnrollmentRefused as refusal:
            assert "used up" in str(refusal)
            return False
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(enroll, range(16)))
    assert outcomes.count(True) == 5
    assert EnrollmentToken.objects.get(pk=issued.token.pk).use_count == 5
    assert Device.objects.filter(hostname__startswith="race-").count() == 5
    assert AgentCredential.objects.filter(device__hostname__startswith="race-").count() == 5


@pytest.mark.parametrize("body", [b"not json", b"[]", json.dumps({"token": 5}).encode(),
                                  json.dumps({"token": "fwe_nope", "facts": {}}).encode()])
def test_malformed_enrollments_get_clear_errors(body):
    response = Client().post("/api/agent/enroll/", body, content_type="application/json")
    assert response.status_code in (400, 403) and response.json()["message"]


def test_facts_without_hostname_are_refused(issued):
    response = _enroll(issued.plaintext, {"os_type": "linux"})
    assert response.status_code == 400 and "hostname" in response.json()["message"]
    assert EnrollmentToken.objects.get(pk=issued.token.pk).use_count == 0


def test_command_prints_a_working_token_once(tenant_a):
    out = StringIO()
    call_command("create_enrollment_token", "--company", tenant_a.company.account_number, "--site", "Alpha HQ",
                 "--max-uses", "1", stdout=out)
    token = re.search(r"(fwe_\S+)", out.getvalue()).group(1)
    assert _enroll(token).status_code == 201
    assert not EnrollmentToken.objects.filter(secret_digest__contains=token).exists()


def test_http_heartbeat_fallback(issued):
    enrollment = enroll_agent(enrollment_token=issued.plaintext, facts={"hostname": "proxy-bound"})
    headers = {"HTTP_AUTHORIZATION": f"Bearer {enrollment.agent_token}"}
    beat = Client().post("/api/agent/heartbeat/", json.dumps({"type": "heartbeat", "seq": 3,
                                                              "metrics": {"cpu_percent": 7}}),
                         content_type="application/json", **headers)
    assert beat.status_code == 200 and beat.json()["seq"] == 3
    assert MetricSample.objects.get(device=enrollment.device).cpu_percent == 7
    inventory = Client().post("/api/agent/heartbeat/", json.dumps({"type": "inventory", "hash": "d" * 64,
                                                                   "data": {"system": {}}}),
                              content_type="application/json", **headers)
    assert inventory.json()["changed"] is True
    bad = Client().post("/api/agent/heartbeat/", "{", content_type="application/json", **headers)
    assert bad.status_code == 400 and bad.json()["error"] == "malformed_json"
    anonymous = Client().post("/api/agent/heartbeat/", "{}", content_type="application/json")
    assert anonymous.status_code == 401
    api_token_shaped = Client().post("/api/agent/heartbeat/", "{}", content_type="application/json",
                                     HTTP_AUTHORIZATION="Bearer fwt_0123456789ab_" + "A" * 43)
    assert api_token_shaped.status_code == 401


def test_a_token_name_with_a_nul_character_is_refused(tenant_a):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="NUL"):
        create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="roll\x00out")
    assert not EnrollmentToken.objects.filter(site=tenant_a.site).exists()


def test_an_enrollment_reads_its_placement_with_the_token(issued, tenant_a, django_assert_max_num_queries):
    """A roll-out enrolls thousands at once: the device's company, site and group come with the token's row,
    not from five look-ups of their own (three key checks, two for the placement check)."""
    with django_assert_max_num_queries(8) as captured:  # the token, savepoint, 4 inserts, its use, release
        enrolled = enroll_agent(enrollment_token=issued.plaintext, facts={"hostname": "counted", "os_type": "linux"})
    statements = [query["sql"].split()[0].upper() for query in captured.captured_queries]
    assert statements.count("SELECT") == 1, captured.captured_queries  # the token, with its site and group
    device = Device.objects.get(pk=enrolled.device.pk)
    assert (device.company_id, device.site_id, device.group_id) == (tenant_a.company.pk, tenant_a.site.pk,
                                                                    tenant_a.group.pk)
    # The returned device's site and group are the rows themselves, not the placement check's stand-ins.
    assert (enrolled.device.site.name, enrolled.device.group.name) == (tenant_a.site.name, tenant_a.group.name)


def test_a_token_whose_group_moved_to_another_site_places_no_device(issued, tenant_a):
    """The placement check still runs on what the token's one read brings (the group's own site): a group
    moved to another site after the token was issued cannot receive devices in the token's site."""
    other_site = Site.objects.create(company=tenant_a.company, name="Elsewhere")
    Group.objects.filter(pk=tenant_a.group.pk).update(site=other_site)
    before = Device.objects.count()
    response = _enroll(issued.plaintext)
    assert response.status_code == 400 and "another site" in response.json()["message"]
    assert Device.objects.count() == before
    assert EnrollmentToken.objects.get(pk=issued.token.pk).use_count == 0
