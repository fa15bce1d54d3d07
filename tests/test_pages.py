"""Dashboard pages: sign-in with CSRF, lists that search, sort and paginate in the URL, the hierarchy."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests import factories
from tests.conftest import PASSWORD, logged_in

pytestmark = pytest.mark.django_db


def test_pages_need_a_signed_in_user(tenant_a):
    for url in (reverse("home"), reverse("resource-list", args=["companies"]),
                reverse("resource-detail", args=["sites", tenant_a.site.pk]), reverse("api-tokens")):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_sign_in_and_out_with_csrf(operator_a):
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("login"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    assert client.post(reverse("login"), {"login": "operator-a", "password": PASSWORD}).status_code == 403
    signed_in = client.post(reverse("login"), {"login": "operator-a", "password": PASSWORD,
                                                "csrfmiddlewaretoken": token})
    assert signed_in.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    token = client.cookies["csrftoken"].value
    assert client.post(reverse("logout"), HTTP_X_CSRFTOKEN=token).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password_is_refused_with_a_message(operator_a):
    response = Client().post(reverse("login"), {"login": "operator-a", "password": "guess"})
    assert response.status_code == 200
    assert "username and/or password you specified are not correct" in response.content.decode()


def test_device_list_searches_sorts_and_paginates(tenant_a, viewer_a):
    for n in range(30):
        factories.DeviceFactory(site=tenant_a.site, hostname=f"ws-{n:02d}")
    client = logged_in(viewer_a)
    url = reverse("resource-list", args=["devices"])
    first = client.get(url, {"q": "ws-", "sort": "hostname", "per_page": 10})
    assert [d.hostname for d, _ in first.context["rows"]] == [f"ws-{n:02d}" for n in range(10)]
    assert first.context["listing"].page.paginator.count == 30
    body = first.content.decode()
    assert "page=2" in body and "1–10 of 30" in body
    last = client.get(url, {"q": "ws-", "sort": "-hostname", "per_page": 10, "page": 3})
    assert [d.hostname for d, _ in last.context["rows"]][-1] == "ws-00"
    multi_word = client.get(url, {"q": "ws-1 Alpha"})
    assert {d.hostname for d, _ in multi_word.context["rows"]} == {f"ws-{n}" for n in range(10, 20)}


def test_list_tolerates_nonsense_parameters(tenant_a, viewer_a):
    response = logged_in(viewer_a).get(reverse("resource-list", args=["sites"]),
                                       {"sort": "password; DROP TABLE", "page": "x", "per_page": "-5"})
    assert response.status_code == 200
    assert response.context["listing"].sort == "name"
    assert response.context["listing"].per_page == 1


def test_htmx_search_returns_only_the_table(tenant_a, viewer_a):
    response = logged_in(viewer_a).get(reverse("resource-list", args=["sites"]), {"q": "Alpha"},
                                       HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="table"') and "<html" not in body


def test_empty_state_tells_what_to_do(admin_user):
    body = logged_in(admin_user).get(reverse("resource-list", args=["companies"])).content.decode()
    assert "No companies yet." in body and "Add your first client company" in body


def test_unknown_resource_is_404(viewer_a):
    assert logged_in(viewer_a).get("/nonsense/").status_code == 404


def test_company_page_shows_the_hierarchy(tenant_a, viewer_a):
    body = logged_in(viewer_a).get(reverse("resource-detail", args=["companies", tenant_a.company.pk])).content
    text = body.decode()
    for expected in ("Alpha HQ", "Alpha Servers", "Alpha Contact"):
        assert expected in text
    assert reverse("resource-detail", args=["groups", tenant_a.group.pk]) in text


def test_static_htmx_is_served_from_the_npm_package():
    response = Client().get("/static/vendor/htmx.min.js")
    assert response.status_code == 200
    assert b"htmx" in b"".join(response.streaming_content)[:2000]


def test_device_list_filters_keep_their_state_in_the_url(tenant_a, tenant_b, operator_a):
    from portal.inventory.models import DeviceStatus, OsType

    annex = factories.SiteFactory(company=tenant_a.company, name="Annex")
    factories.DeviceFactory(site=annex, hostname="win-1", os_type=OsType.WINDOWS, status=DeviceStatus.OFFLINE)
    factories.DeviceFactory(site=annex, hostname="mac-1", os_type=OsType.MACOS)
    client = logged_in(operator_a)
    url = reverse("resource-list", args=["devices"])

    def hostnames(**params):
        return sorted(d.hostname for d, _ in client.get(url, params).context["rows"])

    assert hostnames(status="offline") == ["win-1"]
    assert hostnames(os="macos") == ["mac-1"]
    assert hostnames(site=str(annex.pk)) == ["mac-1", "win-1"]
    assert hostnames(site=str(annex.pk), os="windows") == ["win-1"]
    assert hostnames(group=str(tenant_a.group.pk)) == ["alpha-host-1"]
    # a company that is not yours is not a choice: the filter is ignored, nothing of it shows
    assert "bravo-host-1" not in hostnames(company=str(tenant_b.company.pk))
    assert hostnames(status="exploded") == ["alpha-host-1", "mac-1", "win-1"]
    body = client.get(url, {"status": "offline", "per_page": 1}).content.decode()
    assert '<option value="offline" selected>' in body and "Bravo" not in body


def test_times_are_shown_in_the_users_time_zone(tenant_a, operator_a):
    from datetime import UTC, datetime

    from portal.inventory.models import Device

    Device.objects.filter(pk=tenant_a.device.pk).update(last_seen=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    client = logged_in(operator_a)
    url = reverse("resource-detail", args=["devices", tenant_a.device.pk])
    assert "2026-01-15T12:00:00+00:00" in client.get(url).content.decode()
    assert client.post(reverse("account"), {"time_zone": "Asia/Tokyo"}).status_code == 200
    assert "2026-01-15T21:00:00+09:00" in client.get(url).content.decode()
    refused = client.post(reverse("account"), {"time_zone": "Mars/Olympus"}).content.decode()
    assert "Select a valid choice" in refused
    operator_a.refresh_from_db()
    assert operator_a.time_zone == "Asia/Tokyo"


def _list_headers(page: str) -> list[str]:
    head = page.split('id="table"', 1)[1].split("</thead>", 1)[0]
    cells = [re.sub(r"<[^>]+>|[▲▼]", "", cell).strip() for cell in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]
    return [cell for cell in cells if cell and cell != "Select"]


def test_lists_keep_each_users_columns(tenant_a, operator_a, viewer_a):
    client = logged_in(operator_a)
    url = reverse("resource-list", args=["devices"])
    assert _list_headers(client.get(url).content.decode())[:4] == ["Hostname", "Status", "OS", "Company"]
    client.post(reverse("table-columns", args=["devices"]),
                {"shown": ["Last seen", "Status", "Hostname"], "position-Last seen": "1", "position-Status": "2"})
    page = client.get(url).content.decode()
    assert _list_headers(page) == ["Hostname", "Last seen", "Status"]  # the name first; the others as chosen
    assert "Alpha Corp" not in page.split("<tbody")[-1]  # the company column is hidden for this user
    other = logged_in(viewer_a).get(url).content.decode()
    assert _list_headers(other)[:4] == ["Hostname", "Status", "OS", "Company"]  # another user's is untouched
    client.post(reverse("table-columns", args=["devices"]), {"op": "reset"})
    assert _list_headers(client.get(url).content.decode())[:4] == ["Hostname", "Status", "OS", "Company"]


def test_the_app_icon_is_served():
    icon = Client().get("/favicon.ico")
    assert icon.status_code == 301 and icon["Location"].endswith("fleetwatch/icon.svg")
    assert Client().get(icon["Location"]).status_code == 200
