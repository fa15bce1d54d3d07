"""The agent's run ledger closes the replay window: every action id is kept until its envelope expires
(not a count that pushes still-valid ids out), a damaged ledger is set aside and actions queued before it
was set aside are refused with the reason, and envelopes carry a checked nonce. Before, the ledger kept
5,000 ids, reset itself when damaged (so a redelivered action could run again), and never checked nonces."""

from __future__ import annotations

import json
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleetwatch_agent.ledger import CLOCK_SKEW_SECONDS, ActionLedger

from tests.actions.test_agent_refusals import DEVICE_ID, StandIn, _frame, _public, _run_agent_against, _script


def test_ids_are_kept_until_their_envelope_expires_whatever_their_number(tmp_path):
    ledger = ActionLedger(tmp_path)
    later = time.time() + 72 * 3600
    ledger.entries = {str(n): {"state": "finished", "type": "run_script", "since": time.time() - 3600 + n / 1000,
                               "expires": later} for n in range(1, 6_001)}
    ledger.mark(6_001, "finished", action_type="run_script", expires=later)
    reread = ActionLedger(tmp_path)
    assert reread.state_of(1) == "finished" and len(reread.entries) == 6_001  # before: id 1 was dropped at 5,000


def test_expired_entries_are_forgotten(tmp_path):
    ledger = ActionLedger(tmp_path)
    ledger.mark(1, "finished", expires=time.time() - CLOCK_SKEW_SECONDS - 60)
    ledger.mark(2, "running", expires=time.time() - CLOCK_SKEW_SECONDS - 60)  # its outcome is still to report
    ledger.mark(3, "finished", expires=time.time() + 600)
    assert ledger.state_of(1) is None and ledger.state_of(2) == "running" and ledger.state_of(3) == "finished"


def test_a_damaged_ledger_is_set_aside_with_a_new_horizon(tmp_path):
    (tmp_path / "actions.json").write_text("{damaged")
    before = time.time()
    ledger = ActionLedger(tmp_path, started_at=before - 86_400)
    assert ledger.horizon >= int(before) and ledger.before_horizon(before - 10)
    assert list(tmp_path.glob("actions.json.damaged-*"))


def test_a_first_format_ledger_is_read_and_complete_from_its_oldest_entry(tmp_path):
    oldest = time.time() - 7200
    (tmp_path / "actions.json").write_text(json.dumps({"5": {"state": "finished", "type": "reboot", "since": oldest},
                                                       "6": {"state": "finished", "type": None,
                                                             "since": oldest + 60}}))
    ledger = ActionLedger(tmp_path, started_at=oldest - 86_400)
    assert ledger.state_of(5) == "finished" and abs(ledger.horizon - (oldest - CLOCK_SKEW_SECONDS)) < 1
    assert json.loads((tmp_path / "actions.json").read_text())["version"] == 2


def test_the_real_agent_refuses_what_was_queued_before_its_ledger_begins(tmp_path):
    server_key = Ed25519PrivateKey.generate()
    marker = tmp_path / "ran.txt"
    state = tmp_path / "state"
    state.mkdir()
    (state / "actions.json").write_text("{not json")  # damaged: whatever it knew is lost

    class Scenario:
        async def make(self):
            return StandIn({"type": "welcome", "device_id": DEVICE_ID, "heartbeat_interval": 30,
                            "signing_public_key": _public(server_key)})

        async def play(self, stand_in):
            await stand_in.outbox.put(_frame(server_key, 401, _script(f"echo old >> {marker}"), queued_ago=3600))
            refusal = await stand_in.wait_for(lambda f: f["type"] == "action_refused")
            assert refusal["action_id"] == 401 and refusal["reason"] == "before_ledger"
            assert "queued before this agent's record" in refusal["message"]
            await stand_in.outbox.put(_frame(server_key, 402, _script(f"echo new >> {marker}")))
            assert (await stand_in.wait_for(lambda f: f["type"] == "action_result"))["status"] == "succeeded"
            await stand_in.outbox.put(_frame(server_key, 403, _script(f"echo x >> {marker}"), nonce="short"))
            malformed = await stand_in.wait_for(lambda f: f["type"] == "action_refused" and f["action_id"] == 403)
            assert malformed["reason"] == "malformed" and "nonce" in malformed["message"]

    _run_agent_against(tmp_path, pinned=_public(server_key), scenario=Scenario())
    assert marker.read_text() == "new\n"
