"""Remote sessions in a real browser against a real daphne and the real agent: the terminal answers what is
typed (UTF-8, Ctrl+C), follows the window's size and is recorded; the file browser uploads and downloads with
the checksums compared on both ends. No Content-Security-Policy violation on the way."""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest
from playwright.sync_api import expect

from portal.access import Role
from portal.remote.models import FileTransfer, RemoteSession
from tests.actions.agent_harness import AgentHandle
from tests.browser.conftest import browser_user, sign_in
from tests.live import wait_for
from tests.remote.test_remote_end_to_end import TEST_SHELL

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def remote_technician(settings, tenant_a):
    return browser_user(settings, username="shell-tech", role=Role.OPERATOR, companies=[tenant_a.company],
                        can_open_remote_sessions=True)


@pytest.fixture
def agent(live_daphne, tenant_a, tmp_path, remote_technician):
    handle = AgentHandle(directory=tmp_path / "agent", server_url=live_daphne.url, site=tenant_a.site)
    handle.start()
    yield handle
    if handle.process is not None and handle.process.poll() is None:
        handle.process.kill()


def _screen(page) -> str:
    return page.evaluate("""() => { const b = window.__fleetwatchTerminal.buffer.active; const lines = [];
        for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));
        return lines.join('\\n'); }""")


def _wait_screen(page, pattern: str, timeout: float = 15) -> str:
    return wait_for(lambda: re.search(pattern, _screen(page)) and _screen(page), timeout=timeout,
                    what=f"{pattern!r} on the terminal")


def test_the_terminal_answers_resizes_and_is_recorded(live_daphne, agent, remote_technician, page, screenshot):
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    sign_in(page, live_daphne, remote_technician)
    page.goto(f"{live_daphne.url}/devices/{agent.device.pk}/")
    # Plain sh, not the account's login shell: that one reads the machine's profile files, which may run anything.
    page.get_by_text("Shell options").click()
    page.locator("#remote-shell").select_option(TEST_SHELL)
    page.get_by_role("button", name="Open shell").click()
    expect(page.locator("#remote-status")).to_contain_text("Connected", timeout=20_000)
    page.locator("#terminal").click()
    page.keyboard.type("echo hi-$((6*7)) été\n")
    _wait_screen(page, r"hi-42 été")
    page.keyboard.type("sleep 60\n")
    page.keyboard.press("Control+C")
    page.keyboard.type("echo after-interrupt\n")
    _wait_screen(page, r"\nafter-interrupt")
    measure = "[window.__fleetwatchTerminal.rows, window.__fleetwatchTerminal.cols]"
    before = page.evaluate(measure)
    page.set_viewport_size({"width": 900, "height": 700})
    size = wait_for(lambda: (found := page.evaluate(measure)) != before and found, what="the terminal to refit")
    page.keyboard.type("stty size\n")
    _wait_screen(page, rf"\n{size[0]} {size[1]}")
    screenshot("terminal")
    page.get_by_role("button", name="End session").click()
    expect(page.locator("#remote-status")).to_contain_text("Session ended", timeout=10_000)
    session = RemoteSession.objects.get()
    assert session.shell == TEST_SHELL  # the option chosen on the page reached the session
    wait_for(lambda: RemoteSession.objects.get().ended_at, what="the session recorded as ended")
    page.goto(f"{live_daphne.url}/remote-sessions/{session.pk}/")
    expect(page.get_by_text("hi-42 été").first).to_be_visible()
    assert violations == []


def test_files_upload_and_download_with_checksums(live_daphne, agent, remote_technician, page, screenshot, tmp_path):
    area = tmp_path / "endpoint-files"
    area.mkdir()
    original = os.urandom(400_000)
    (area / "server.log").write_bytes(original)
    to_upload = tmp_path / "upload-me.bin"
    to_upload.write_bytes(os.urandom(300_000))
    sign_in(page, live_daphne, remote_technician)
    page.goto(f"{live_daphne.url}/devices/{agent.device.pk}/")
    page.get_by_role("button", name="Browse files").click()
    expect(page.locator("#remote-status")).to_contain_text("Connected", timeout=20_000)
    page.get_by_label("Folder", exact=True).fill(str(area))
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.get_by_role("rowheader", name="server.log")).to_be_visible(timeout=15_000)
    page.get_by_label(re.compile("Upload into this folder")).set_input_files(str(to_upload))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#files-message")).to_contain_text("checked by the agent", timeout=20_000)
    assert (area / "upload-me.bin").read_bytes() == to_upload.read_bytes()
    expect(page.get_by_role("rowheader", name="upload-me.bin")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("server.log"))
    with page.expect_download() as downloading:
        row.get_by_role("button", name="Download").click()
    saved = tmp_path / "downloaded.log"
    downloading.value.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(original).hexdigest()
    expect(page.locator("#files-message")).to_contain_text(hashlib.sha256(original).hexdigest())
    screenshot("files")
    transfers = {t.operation: t for t in FileTransfer.objects.all()}
    assert transfers["upload"].sha256 == hashlib.sha256(to_upload.read_bytes()).hexdigest()
    assert transfers["download"].sha256 == hashlib.sha256(original).hexdigest()


def _pump_until(page, condition, *, what: str, seconds: float = 15) -> None:
    """Wait inside Playwright (a plain sleep would not let the socket route's callbacks run)."""
    for _ in range(int(seconds * 10)):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("late_until", ["typed", "opened"])
def test_a_late_first_listing_keeps_the_folder_typed_or_opened(late_until, live_daphne, agent, remote_technician,
                                                               page, tmp_path):
    """The page lists a folder as soon as the session opens. When that answer comes back late — after the
    technician typed another folder, or after that folder was opened and shown — it neither overwrites what was
    typed nor replaces the folder shown. The socket is routed through the test so the first answer (its reply
    and its end) is held, as when the agent lists a large folder slowly."""
    area = tmp_path / "endpoint-files"
    area.mkdir()
    (area / "report.txt").write_text("quarterly figures")
    held: list = []
    released: list = []

    def route(browser_side):
        server_side = browser_side.connect_to_server()

        def release():
            released.append(True)
            while held:
                browser_side.send(held.pop(0))

        def to_browser(message):
            frame = json.loads(message) if isinstance(message, str) else {}
            if frame.get("id") == 1 and not released:
                held.append(message)
                return
            browser_side.send(message)
            if frame.get("event") == "done" and frame.get("id") == 2:
                release()

        server_side.on_message(to_browser)
        route.release = release

    page.route_web_socket(re.compile(r"/ws/remote/"), route)
    sign_in(page, live_daphne, remote_technician)
    page.goto(f"{live_daphne.url}/devices/{agent.device.pk}/")
    page.get_by_role("button", name="Browse files").click()
    expect(page.locator("#remote-status")).to_contain_text("Connected", timeout=20_000)
    _pump_until(page, lambda: len(held) == 2, what="the first listing held back")
    folder_box = page.get_by_label("Folder", exact=True)
    folder_box.fill(str(area))
    if late_until == "typed":
        route.release()
        expect(page.get_by_role("rowheader", name="bin/", exact=True)).to_be_visible()
        expect(folder_box).to_have_value(str(area))
    page.get_by_role("button", name="Open", exact=True).click()
    _pump_until(page, lambda: released, what="the first listing let through")
    page.wait_for_timeout(500)  # a late answer has reached the page's handler by now
    expect(page.get_by_role("rowheader", name="report.txt")).to_be_visible()
    expect(folder_box).to_have_value(str(area))
