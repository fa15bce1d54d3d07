"""Management commands: the first admin's password is printed once; users are created with a scope."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from portal.accounts.models import User

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _signs_in(username: str, password: str) -> bool:
    """Sign in through the sign-in page, as a person does (throttling and audit included)."""
    client = Client()
    response = client.post("/login/", {"login": username, "password": password})
    return response.status_code == 302 and "_auth_user_id" in client.session


def test_first_admin_password_is_generated_and_printed_once():
    first = _run("create_first_admin")
    password = re.search(r"password: (\S+)", first).group(1)
    assert len(password) >= 16
    second = _run("create_first_admin")
    assert password not in second and "exists already" in second
    assert User.objects.filter(is_superuser=True).count() == 1
    assert _signs_in("admin", password)
    assert User.objects.get(username="admin").password != password


def test_create_user_with_a_company_scope(tenant_a):
    output = _run("create_user", "tech1", "--role", "operator", "--company", tenant_a.company.account_number)
    password = re.search(r"Password \(shown only once\): (\S+)", output).group(1)
    user = User.objects.get(username="tech1")
    assert user.role == "operator" and not user.all_companies
    assert list(user.companies.all()) == [tenant_a.company]
    assert _signs_in("tech1", password)


def test_create_user_refuses_unknown_companies_and_missing_scope(tenant_a):
    with pytest.raises(CommandError, match="No single company"):
        _run("create_user", "tech2", "--company", "Nobody Inc")
    with pytest.raises(CommandError, match="--all-companies"):
        _run("create_user", "tech3")
    assert not User.objects.filter(username__in=["tech2", "tech3"]).exists()
