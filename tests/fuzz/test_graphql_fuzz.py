"""Every GraphQL operation fuzzed for a while (schemathesis from PyPI, generating queries and mutations from
the committed schema) against a real daphne: no answer is a server error or an error masked as internal,
and the server logs no traceback. FLEETWATCH_FUZZ_SECONDS sets the time box (90 s by default)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from portal.access import Role, actor_for_user
from portal.accounts.services import create_api_token
from tests import factories
from tests.live import REPO

pytestmark = pytest.mark.django_db(transaction=True)
SECONDS = int(os.environ.get("FLEETWATCH_FUZZ_SECONDS", 90))


def test_fuzzing_every_operation_finds_no_internal_error(live_daphne, tenant_a, tenant_b):
    admin = factories.UserFactory(username="fuzzer", role=Role.ADMIN, all_companies=True, is_staff=True)
    token = create_api_token(actor=actor_for_user(admin), name="fuzz").plaintext
    runner = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(runner), "run", str(REPO / "schema.graphql"), "--url", f"{live_daphne.url}/graphql/",
         "-H", f"Authorization: Bearer {token}", "--checks", "no_internal_error", "--max-time", str(SECONDS),
         "--workers", "2", "--seed", "20261201", "--no-color"],
        cwd=REPO, env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.graphql_checks"},
        capture_output=True, text=True, timeout=SECONDS + 240)
    summary = result.stdout[-4000:]
    log = live_daphne.log_path.read_text(errors="replace")
    tracebacks = [part[:3000] for part in log.split("Traceback")[1:4]]
    assert result.returncode == 0, summary + result.stderr[-2000:] + "\n".join(tracebacks)
    selected, total = map(int, re.search(r"Selected: (\d+)/(\d+)", summary).groups())
    assert int(re.search(r"Tested: (\d+)", summary).group(1)) == selected == total > 70  # every operation
    assert "Traceback" not in log and "Internal error" not in log, log[-4000:]
