"""Users and teams in the dashboard, and two-factor sign-in: admins manage the users of their companies (and no
one else), grant no more than they hold, reset passwords (shown once), deactivate, end sessions, revoke tokens;
a role may be required to sign in with a second factor (TOTP here; the same gate serves passkeys), API tokens
unaffected."""

from __future__ import annotations

import re
import time

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from allauth.usersessions.models import UserSession
from django.db.models import Q
from django.test import Client
from django.urls import reverse

from portal.access import Role, actor_for_user
from portal.accounts import services
from portal.accounts.models import User
from portal.accounts.selectors import users_for
from portal.audit.models import AuditEvent
from tests import factories
from tests.conftest import PASSWORD, logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tenant_a, tenant_b):
    """Users of Alpha only, of Bravo only, of both, and one who sees every company."""
    return {
        "alpha": factories.UserFactory(username="alpha-tech", role=Role.OPERATOR, companies=[tenant_a.company]),
        "bravo": factories.UserFactory(username="bravo-tech", role=Role.OPERATOR, companies=[tenant_b.company]),
        "both": factories.UserFactory(username="both-tech", role=Role.VIEWER,
                                      companies=[tenant_a.company, tenant_b.company]),
        "msp": factories.UserFactory(username="msp-admin", role=Role.ADMIN, all_companies=True),
    }


def test_a_company_admin_manages_only_the_users_of_its_companies(team, admin_a, operator_a):
    visible = set(users_for(actor=actor_for_user(admin_a)).values_list("username", flat=True))
    assert visible == {"admin-a", "alpha-tech", "operator-a"}  # not Bravo's, not both's, not the MSP's
    client = logged_in(admin_a)
    listing = client.get(reverse("users")).content.decode()
    assert "alpha-tech" in listing and "bravo-tech" not in listing and "msp-admin" not in listing
    for name in ("bravo", "both", "msp"):
        assert client.get(reverse("user-detail", args=[team[name].pk])).status_code == 404
        assert client.post(reverse("user-action", args=[team[name].pk]), {"op": "deactivate"}).status_code == 404
        assert User.objects.get(pk=team[name].pk).is_active
    assert logged_in(operator_a).get(reverse("users")).status_code == 404  # admins only
    assert set(users_for(actor=actor_for_user(operator_a)).values_list("username", flat=True)) == {"operator-a"}


def test_an_admin_grants_no_more_than_it_holds(team, tenant_a, tenant_b, admin_a):
    client = logged_in(admin_a)
    user = team["alpha"]
    response = client.post(reverse("user-action", args=[user.pk]),
                           {"op": "update", "role": "admin", "companies": [tenant_b.company.pk]})
    assert "Select a valid choice" in response.content.decode()  # Bravo is not offered
    with pytest.raises(Exception, match="every company"):
        services.update_user(actor=actor_for_user(admin_a), user=user, all_companies=True)
    client.post(reverse("user-action", args=[user.pk]), {"op": "update", "role": "admin", "email": "a@alpha.example",
                                                         "companies": [tenant_a.company.pk],
                                                         "can_run_inline_scripts": "on"})
    user.refresh_from_db()
    assert (user.role, user.email, user.can_run_inline_scripts, user.is_staff) == ("admin", "a@alpha.example", True,
                                                                                 True)
    event = AuditEvent.objects.filter(action="user.updated", object_id=str(user.pk)).latest("pk")
    assert event.before["role"] == "operator" and event.after["role"] == "admin"
    own = client.post(reverse("user-action", args=[admin_a.pk]), {"op": "update", "role": "viewer",
                                                                   "companies": [tenant_a.company.pk]}, follow=True)
    assert "another administrator" in own.content.decode()
    assert User.objects.get(pk=admin_a.pk).role == "admin"


def test_creating_a_user_shows_the_password_once(tenant_a, admin_a):
    client = logged_in(admin_a)
    page = client.post(reverse("user-new"), {"username": "new-tech", "role": "operator",
                                             "companies": [tenant_a.company.pk]}).content.decode()
    password = re.search(r'<code class="secret">([^<]+)</code>', page).group(1)
    assert Client().post(reverse("login"), {"login": "new-tech", "password": password}).status_code == 302
    assert list(User.objects.get(username="new-tech").companies.all()) == [tenant_a.company]
    nowhere = client.post(reverse("user-new"), {"username": "lost", "role": "viewer"}).content.decode()
    assert "Choose the companies this user sees" in nowhere and not User.objects.filter(username="lost").exists()


def test_reset_password_deactivate_sessions_and_tokens(team, admin_a):
    user = team["alpha"]
    user.set_password(PASSWORD)
    user.save()
    browser = Client(HTTP_USER_AGENT="Firefox on the help desk")
    assert browser.post(reverse("login"), {"login": "alpha-tech", "password": PASSWORD}).status_code == 302
    session = UserSession.objects.get(user=user)
    token = services.create_api_token(actor=actor_for_user(user), name="psa sync").token
    client = logged_in(admin_a)
    page = client.get(reverse("user-detail", args=[user.pk])).content.decode()
    assert "Firefox on the help desk" in page and "psa sync" in page
    client.post(reverse("user-action", args=[user.pk]), {"op": "revoke_token", "token": token.pk})
    token.refresh_from_db()
    assert token.revoked_at is not None
    client.post(reverse("user-action", args=[user.pk]), {"op": "end_session", "session": session.pk})
    assert browser.get(reverse("home")).status_code == 302  # signed out
    reset = client.post(reverse("user-action", args=[user.pk]), {"op": "reset_password"}).content.decode()
    new_password = re.search(r'<code class="secret">([^<]+)</code>', reset).group(1)
    assert Client().post(reverse("login"), {"login": "alpha-tech", "password": PASSWORD}).status_code == 200
    assert Client().post(reverse("login"), {"login": "alpha-tech", "password": new_password}).status_code == 302
    client.post(reverse("user-action", args=[user.pk]), {"op": "deactivate"})
    assert Client().post(reverse("login"), {"login": "alpha-tech", "password": new_password}).status_code == 200
    actions = set(AuditEvent.objects.filter(
        Q(object_type="accounts.user", object_id=str(user.pk)) | Q(object_type="accounts.apitoken",
                                                                   object_id=str(token.pk))).values_list(
        "action", flat=True))
    assert {"apitoken.revoked", "user.session_ended", "user.password_reset", "user.updated"} <= actions


def test_a_role_may_be_required_to_use_a_second_factor(tenant_a, admin_user, operator_a, gql_as):
    operator_a.set_password(PASSWORD)
    operator_a.save()
    services.set_second_factor_roles(actor=actor_for_user(admin_user), roles=["operator"])
    browser = Client()
    assert browser.post(reverse("login"), {"login": "operator-a", "password": PASSWORD}).status_code == 302
    taken = browser.get(reverse("home"))
    assert taken.status_code == 302 and taken["Location"] == reverse("mfa_index")
    assert browser.get(reverse("resource-list", args=["devices"]))["Location"] == reverse("mfa_index")
    assert browser.get(reverse("mfa_index")).status_code == 200
    # API tokens are not affected.
    assert gql_as(operator_a)("{ me { username } }")["data"]["me"]["username"] == "operator-a"
    # With an authenticator app set up, the pages open, and the next sign-in asks for its code.
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    TOTP.activate(operator_a, secret)
    assert browser.get(reverse("home")).status_code == 200
    second = Client()
    first_step = second.post(reverse("login"), {"login": "operator-a", "password": PASSWORD})
    assert first_step.status_code == 302 and first_step["Location"] == reverse("mfa_authenticate")
    assert second.get(reverse("home")).status_code == 302  # not signed in before the code
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    done = second.post(reverse("mfa_authenticate"), {"code": code})
    assert done.status_code == 302 and second.get(reverse("home")).status_code == 200
    policy_page = logged_in(admin_user).get(reverse("users")).content.decode()
    assert "Roles that must use a second factor" in policy_page
    with pytest.raises(Exception, match="need an admin who sees all companies"):
        services.set_second_factor_roles(actor=actor_for_user(factories.UserFactory(
            username="scoped-admin", role=Role.ADMIN, companies=[tenant_a.company])), roles=[])


@pytest.fixture
def single_sign_on(settings):
    from tests.oidc_standin import OidcStandIn

    provider = OidcStandIn(client_id="fleetwatch", client_secret="s3cret",
                           person={"sub": "entra-42", "email": "ops@alpha.example", "email_verified": True,
                                   "name": "Alpha Ops"})
    provider.start()
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": [{
        "provider_id": "sso", "name": "Entra ID", "client_id": "fleetwatch", "secret": "s3cret",
        "settings": {"server_url": provider.origin, "token_auth_method": "client_secret_post"}}]}}
    yield provider
    provider.stop()


def _sign_on(browser: Client):
    """Press "Sign in with Entra ID", let the provider sign the person in, and come back with its code."""
    import urllib.request

    start = browser.post("/accounts/oidc/sso/login/?process=login")
    assert start.status_code == 302, start.content[:500]

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(start["Location"])
    except urllib.error.HTTPError as answer:
        callback = answer.headers["Location"]
    return browser.get(callback.replace("http://testserver", ""))


def test_single_sign_on_reaches_only_an_existing_user_with_that_address(single_sign_on, operator_a):
    page = Client().get(reverse("login")).content.decode()
    assert "Sign in with Entra ID" in page
    nobody = Client()
    refused = _sign_on(nobody)
    assert refused.status_code == 302 and nobody.get(reverse("home")).status_code == 302
    assert not User.objects.filter(email="ops@alpha.example").exists()  # no account is made
    operator_a.email = "OPS@alpha.example"
    operator_a.save()
    browser = Client()
    assert _sign_on(browser).status_code == 302
    assert browser.get(reverse("home")).status_code == 200
    assert browser.get(reverse("whoami")).json()["username"] == "operator-a"
    assert AuditEvent.objects.filter(action="user.single_sign_on_linked", object_id=str(operator_a.pk)).exists()


def test_single_sign_on_is_off_unless_configured():
    assert "Sign in with" not in Client().get(reverse("login")).content.decode()
    assert Client().post("/accounts/oidc/sso/login/").status_code == 404


def test_a_sessions_last_activity_is_noted_at_most_once_a_minute(team, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = team["alpha"]
    user.set_password(PASSWORD)
    user.save()
    browser = Client(HTTP_USER_AGENT="Edge at the front desk")
    clock = [1000.0]
    monkeypatch.setattr("portal.accounts.middleware.time.monotonic", lambda: clock[0])
    assert browser.post(reverse("login"), {"login": "alpha-tech", "password": PASSWORD}).status_code == 302
    browser.get(reverse("home"))
    first_seen = UserSession.objects.get(user=user).last_seen_at

    def session_writes() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert browser.get(reverse("home")).status_code == 200
        return [q["sql"] for q in captured.captured_queries
                if q["sql"].startswith("UPDATE") and "usersessions_usersession" in q["sql"]]

    clock[0] += 30
    assert session_writes() == []  # a page view within the minute writes nothing
    clock[0] += 31
    assert len(session_writes()) == 1
    assert UserSession.objects.get(user=user).last_seen_at > first_seen
