"""Sign-in is throttled (django-axes: per user name and per address, audited), every page carries a strict
Content-Security-Policy, and with secure cookies on, HSTS and the HTTPS redirect are on too. Before, a
password could be guessed without limit and no policy limited what a page may load or run."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from django.test import Client

from portal.audit.models import AuditEvent
from tests import factories
from tests.live import REPO, process_env

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def _attempt(client: Client, username: str, password: str, address: str):
    return client.post("/login/", {"login": username, "password": password}, REMOTE_ADDR=address)


def test_a_user_name_is_locked_after_five_failures_even_with_the_right_password(operator_a):
    client = Client()
    answers = [_attempt(client, "operator-a", f"guess-{n}", f"198.51.100.{n}").status_code for n in range(5)]
    assert answers == [200, 200, 200, 200, 429]  # the fifth failure locks the user name
    locked = _attempt(client, "operator-a", PASSWORD, "198.51.100.99")
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="user.sign_in_failed", actor_label="operator-a").count() == 6
    assert AuditEvent.objects.filter(action="user.locked_out", actor_label="operator-a").exists()


def test_an_address_is_locked_after_five_failures_across_user_names(operator_a, viewer_a):
    client = Client()
    for name in ("root", "admin", "administrator", "operator", "test"):
        _attempt(client, name, "guess", "203.0.113.50")
    assert _attempt(client, "viewer-a", PASSWORD, "203.0.113.50").status_code == 429
    assert _attempt(client, "viewer-a", PASSWORD, "203.0.113.51").status_code == 302  # another address may


def test_a_successful_sign_in_is_audited_and_clears_the_count(operator_a):
    client = Client()
    for _ in range(3):
        _attempt(client, "operator-a", "wrong", "192.0.2.80")
    assert _attempt(client, "operator-a", PASSWORD, "192.0.2.80").status_code == 302
    event = AuditEvent.objects.get(action="user.signed_in")
    assert event.user_id == operator_a.pk and event.ip_address == "192.0.2.80"


def test_pages_carry_a_strict_content_security_policy(operator_a):
    client = Client()
    client.force_login(operator_a)
    for path in ("/", "/devices/", "/login/", "/actions/run/", "/graphql/"):
        policy = client.get(path, HTTP_ACCEPT="text/html")["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'", path
        assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
        assert "unsafe" not in policy
    body = client.get("/devices/").content.decode()
    assert "onclick=" not in body and "<script>" not in body and 'style="' not in body


def test_no_template_has_inline_script_or_style():
    offenders = []
    for path in (REPO / "templates").rglob("*.html"):
        text = path.read_text()
        for marker in ("onclick=", "onchange=", "onsubmit=", "onload=", "javascript:", 'style="', "<style"):
            if marker in text:
                offenders.append(f"{path.relative_to(REPO)}: {marker}")
        offenders += [f"{path.relative_to(REPO)}: inline <script>" for tag in re.findall(r"<script\b[^>]*>", text)
                      if "src=" not in tag]
    assert offenders == []


def test_secure_cookies_turn_on_hsts_and_the_https_redirect(tmp_path):
    code = (
        "import django, json; django.setup()\n"
        "from django.conf import settings\n"
        "from django.test import Client\n"
        "client = Client(HTTP_HOST='localhost')\n"
        "plain = client.get('/login/')\n"
        "health = client.get('/api/health/')\n"
        "secure = client.get('/login/', secure=True)\n"
        "print(json.dumps({'redirect': plain.status_code, 'to': plain.get('Location'),\n"
        "  'health': health.status_code, 'hsts': secure.get('Strict-Transport-Security'),\n"
        "  'cookie_secure': settings.SESSION_COOKIE_SECURE}))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            env=process_env(FLEETWATCH_SECURE_COOKIES="true", FLEETWATCH_DATA_DIR=str(tmp_path),
                                            DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"))
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["redirect"] == 301 and seen["to"].startswith("https://")
    assert seen["health"] != 301  # load balancers check the plain port
    assert seen["hsts"] == "max-age=31536000" and seen["cookie_secure"] is True


def test_a_disabled_user_cannot_sign_in(db):
    user = factories.UserFactory(username="gone", role="viewer", is_active=False)
    user.set_password(PASSWORD)
    user.save()
    assert _attempt(Client(), "gone", PASSWORD, "192.0.2.81").status_code == 200
