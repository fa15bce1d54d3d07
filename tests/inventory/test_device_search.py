"""The device list's search keeps to the device table (related names matched by id first), so on
PostgreSQL it runs on the trigram indexes instead of scanning every device."""

from __future__ import annotations

import pytest
from django.db import connection

from portal.access import actor_for_user
from portal.inventory.selectors import devices_for
from portal.listing import MAX_INLINED_IDS, search
from tests import factories

pytestmark = pytest.mark.django_db
FIELDS = ("hostname", "display_name", "os_version", "serial_number", "ip_addresses", "company__name", "site__name")


def test_words_match_devices_by_their_own_fields_and_by_company_and_site(admin_a, tenant_a, tenant_b):
    actor = actor_for_user(admin_a)
    factories.DeviceFactory(site=tenant_a.site, hostname="till-07", serial_number="SNX42")
    rows = devices_for(actor=actor)
    assert [d.hostname for d in search(rows, query="till snx4", fields=FIELDS)] == ["till-07"]
    assert {d.hostname for d in search(rows, query="alpha", fields=FIELDS)} >= {"till-07", tenant_a.device.hostname}
    # Bravo's company matches the word, but its devices are outside the caller's scope.
    assert not search(rows, query="bravo", fields=FIELDS).filter(company=tenant_b.company).exists()


def test_many_matching_companies_fall_back_to_a_join(admin_a, tenant_a):
    factories.CompanyFactory.create_batch(MAX_INLINED_IDS + 1, name="Alpha clone")
    rows = search(devices_for(actor=actor_for_user(admin_a)), query="alpha", fields=FIELDS)
    assert tenant_a.device in rows


def test_the_search_uses_the_trigram_indexes_on_postgresql(admin_user, tenant_a):
    """An all-companies admin's search (no company filter to narrow it first)."""
    rows = search(devices_for(actor=actor_for_user(admin_user)), query="host-1", fields=FIELDS)
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":  # SQLite has no trigram index: the migration adds none
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE '%trgm'")
            assert cursor.fetchone()[0] == 0
            return
        # A handful of test rows makes any plan cheap: rule out a scan of the table or of its b-tree
        # indexes, and see that what is left (bitmaps) is served by the trigram indexes.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "inventory_device_hostname_trgm" in plan and "Seq Scan on inventory_device" not in plan, plan
