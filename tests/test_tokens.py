"""API tokens: shown once, stored as a digest, and refused when malformed, unknown, revoked or expired."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import APIToken
from portal.accounts.services import create_api_token, revoke_api_token
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db


def _bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def issued(operator_a, actor_of):
    return create_api_token(actor=actor_of(operator_a), name="billing export")


def test_valid_token_acts_as_its_user_with_its_scope(issued, tenant_a, tenant_b):
    response = Client().get(reverse("whoami"), **_bearer(issued.plaintext))
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "operator-a" and body["role"] == "operator" and body["via_token"] is True
    assert [c["name"] for c in body["companies"]] == ["Alpha Corp"]


def test_only_a_digest_is_stored(issued):
    row = APIToken.objects.get(pk=issued.token.pk)
    assert issued.plaintext.startswith("fwt_")
    secret = issued.plaintext.rsplit("_", 1)[1]
    stored = " ".join(str(value) for value in APIToken.objects.filter(pk=row.pk).values_list().get())
    assert secret not in stored
    assert len(row.secret_digest) == 64


def test_last_used_time_is_tracked(issued):
    assert issued.token.last_used_at is None
    Client().get(reverse("whoami"), **_bearer(issued.plaintext))
    issued.token.refresh_from_db()
    assert issued.token.last_used_at is not None


@pytest.mark.parametrize("header", [
    "Bearer nonsense", "Bearer fwt_123_abc", "Basic dXNlcjpwYXNz", "Bearer ", "Token fwt_x",
    "Bearer fwt_0123456789ab_" + "A" * 43,
])
def test_malformed_or_unknown_tokens_get_401(header):
    response = Client().get(reverse("whoami"), HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_wrong_secret_for_a_real_key_id_gets_401(issued):
    key_id = issued.token.key_id
    response = Client().get(reverse("whoami"), **_bearer(f"fwt_{key_id}_" + "B" * 43))
    assert response.status_code == 401
    assert response.json()["message"] == "The token is not valid."


def test_revoked_token_gets_401(issued, operator_a, actor_of):
    revoke_api_token(actor=actor_of(operator_a), token=issued.token)
    response = Client().get(reverse("whoami"), **_bearer(issued.plaintext))
    assert response.status_code == 401
    assert "revoked" in response.json()["message"]


def test_expired_token_gets_401(issued):
    APIToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get(reverse("whoami"), **_bearer(issued.plaintext))
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_token_of_disabled_user_gets_401(issued, operator_a):
    operator_a.is_active = False
    operator_a.save()
    assert Client().get(reverse("whoami"), **_bearer(issued.plaintext)).status_code == 401


def test_no_credentials_get_401_from_the_api():
    assert Client().get(reverse("whoami")).status_code == 401


def test_token_bypasses_csrf_but_a_session_does_not(issued, tenant_a, operator_a):
    csrf_client = Client(enforce_csrf_checks=True)
    url = reverse("resource-create", args=["sites"])
    data = {"company": tenant_a.company.pk, "name": "Via token"}
    assert csrf_client.post(url, data, **_bearer(issued.plaintext)).status_code == 302
    csrf_client.force_login(operator_a)
    assert csrf_client.post(url, {**data, "name": "Forged"}).status_code == 403


def test_tokens_page_shows_the_token_once_and_revokes(operator_a):
    client = logged_in(operator_a)
    created = client.post(reverse("api-tokens"), {"name": "monitoring", "expires_in_days": 30})
    assert created.status_code == 200
    plaintext = created.context["issued"].plaintext
    assert plaintext in created.content.decode()
    token = APIToken.objects.get(name="monitoring")
    assert token.expires_at is not None
    assert plaintext not in client.get(reverse("api-tokens")).content.decode()
    assert client.post(reverse("api-token-revoke", args=[token.pk])).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client().get(reverse("whoami"), **_bearer(plaintext)).status_code == 401


def test_nobody_revokes_someone_elses_token_from_the_page(issued, viewer_a):
    assert logged_in(viewer_a).post(reverse("api-token-revoke", args=[issued.token.pk])).status_code == 404
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is None


def test_token_needs_a_name_and_a_future_expiry(operator_a, actor_of):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        create_api_token(actor=actor_of(operator_a), name="   ")
    with pytest.raises(ValidationError):
        create_api_token(actor=actor_of(operator_a), name="old", expires_at=timezone.now() - timedelta(days=1))
    with pytest.raises(ValidationError, match="NUL"):
        create_api_token(actor=actor_of(operator_a), name="build\x00bot")
    assert not APIToken.objects.exists()
