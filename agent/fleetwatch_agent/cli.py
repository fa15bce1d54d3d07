"""``fleetwatch-agent``: enroll, run, status, unenroll, collect, install-service."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import logging.handlers
import platform as platform_module
import signal
import sys
import time
from pathlib import Path

from fleetwatch_agent import __version__, collect, reboots, self_update, service
from fleetwatch_agent.config import AgentConfig, default_config_path, load_config
from fleetwatch_agent.crypto import CryptoUnavailable
from fleetwatch_agent.state import AgentState, StateStore, TokenStoreError, mask
from fleetwatch_agent.transport import AgentRunner, TokenRefused, check_server_url, tls_context

EXIT_NOT_ENROLLED = 2
EXIT_REFUSED = 3

HELP = f"""Fleetwatch agent {__version__}: reports this device to a Fleetwatch server.

First enroll with a token from the server (Enrollment tokens page, or
`manage.py create_enrollment_token`), then run the agent or install it as a service:

  fleetwatch-agent enroll --server https://rmm.example.com --token fwe_…
  fleetwatch-agent run
  sudo fleetwatch-agent install-service

The configuration file is TOML (default {default_config_path()}); see the README for every setting."""


def _setup_logging(config: AgentConfig, *, to_file: bool) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if to_file:
        config.resolved_log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            config.resolved_log_file, maxBytes=config.log_max_bytes, backupCount=config.log_backups))
    logging.basicConfig(level=config.log_level.upper(), handlers=handlers,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_enroll(args: argparse.Namespace, config: AgentConfig) -> int:
    import urllib.error  # only enrolling needs it; the running agent does without its ~3 MB
    import urllib.request

    store = StateStore(config.state_dir)
    if store.is_enrolled() and not args.force:
        print(f"Already enrolled (state in {config.state_dir}). Use --force to enroll again.", file=sys.stderr)
        return 1
    server = args.server.rstrip("/")
    try:
        check_server_url(server)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    system = collect.system_facts()
    body = json.dumps({"token": args.token, "facts": {**system, "agent_version": __version__}}).encode()
    request = urllib.request.Request(f"{server}/api/agent/enroll/", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": f"fleetwatch-agent/{__version__}"})
    context = tls_context(config) if server.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError):
            detail = json.loads(detail).get("message", detail)
        print(f"Enrollment refused (HTTP {error.code}): {detail}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as error:
        print(f"Cannot reach {server}: {error}", file=sys.stderr)
        return 1
    state = AgentState(server=server, device_id=int(answer["device_id"]), enrolled_at=time.time(),
                       signing_public_key=answer.get("signing_public_key"),
                       heartbeat_interval=int(answer.get("heartbeat_interval") or config.heartbeat_interval))
    store.save(state, answer["agent_token"])
    print(f"Enrolled as device {state.device_id} on {server}. Start the agent with: fleetwatch-agent run")
    return 0


def cmd_run(args: argparse.Namespace, config: AgentConfig) -> int:
    _setup_logging(config, to_file=True)
    # Runs the version an update installed (or rolls a failed one back); returns when it is this one.
    self_update.launch(state_dir=config.state_dir, argv=sys.argv[1:], trial_seconds=config.update_trial_seconds)
    store = StateStore(config.state_dir)
    if not store.is_enrolled():
        logging.error("This agent is not enrolled. Run: fleetwatch-agent enroll --server URL --token TOKEN")
        return EXIT_NOT_ENROLLED
    try:
        runner = AgentRunner(config=config, store=store)
    except (TokenStoreError, ValueError) as error:
        logging.error("%s", error)
        return EXIT_NOT_ENROLLED
    except CryptoUnavailable as error:  # not a broken enrollment: the service manager starts the agent again
        logging.error("cannot open the stored token: %s", error)
        return 1

    async def main() -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # On Windows there are no signal handlers in asyncio: Ctrl+C arrives as KeyboardInterrupt.
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, runner.stop)
        try:
            await runner.run_forever()
        except TokenRefused as refusal:
            logging.error("%s Enroll this agent again: fleetwatch-agent enroll --force --server URL --token TOKEN",
                          refusal)
            return EXIT_REFUSED
        if runner.restart_for_update:
            logging.warning("exiting so the service manager starts the updated agent")
            return self_update.EXIT_RESTART_FOR_UPDATE
        logging.info("stopped")
        return 0

    logging.info("fleetwatch-agent %s starting (device %s, server %s)", __version__, runner.state.device_id,
                 runner.state.server)
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0


def cmd_status(args: argparse.Namespace, config: AgentConfig) -> int:
    store = StateStore(config.state_dir)
    if not store.is_enrolled():
        print(f"Not enrolled (no token in {config.state_dir}).")
        return EXIT_NOT_ENROLLED
    try:
        state = store.load_state()
        token = store.load_token(state)
    except TokenStoreError as error:
        print(f"Enrolled, but the stored token cannot be used: {error}")
        return 1
    last = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.last_contact)) if state.last_contact else "never"
    print(f"Enrolled: yes\nToken decrypts: yes\nToken: {mask(token)}\nServer: {state.server}\n"
          f"Device id: {state.device_id}\nHeartbeat interval: {state.heartbeat_interval} s\nLast contact: {last}")
    return 0


def cmd_unenroll(args: argparse.Namespace, config: AgentConfig) -> int:
    removed = StateStore(config.state_dir).remove()
    if not removed:
        print("Nothing to remove: this agent is not enrolled.")
        return 0
    print("Removed the local token and state. Revoke or delete the device on the server as well.")
    return 0


def cmd_collect(args: argparse.Namespace, config: AgentConfig) -> int:
    logging.basicConfig(level=logging.WARNING)
    snapshot = collect.inventory(with_software=config.collect_software, with_services=config.collect_services,
                                 with_updates=config.collect_updates)
    snapshot["metrics"] = collect.metrics()
    snapshot["inventory_hash"] = collect.inventory_hash(snapshot)
    json.dump(snapshot, sys.stdout, indent=2, default=str)
    print()
    return 0


def cmd_postpone_reboot(args: argparse.Namespace, config: AgentConfig) -> int:
    if not 1 <= args.minutes <= 1440:
        print("Postpone by 1 to 1440 minutes.", file=sys.stderr)
        return 1
    path = config.postpone_reboot_file or reboots.default_request_file()
    try:
        reboots.request_postponement(path, args.minutes)
    except OSError as error:
        print(f"Could not ask the agent to wait ({path}): {error}", file=sys.stderr)
        return 1
    print(f"Asked to restart {args.minutes} minute(s) later; the agent grants it within what the policy allows "
          "and says so to everyone logged in.")
    return 0


def cmd_install_service(args: argparse.Namespace, config: AgentConfig) -> int:
    target = args.platform or {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}.get(
        platform_module.system(), "linux")
    print(service.install(platform=target, config=args.config, print_only=args.print))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetwatch-agent", description=HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help=f"TOML configuration file (default {default_config_path()}).")
    parser.add_argument("--version", action="version", version=f"fleetwatch-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    enroll = commands.add_parser("enroll", help="Join a Fleetwatch server with an enrollment token.")
    enroll.add_argument("--server", required=True, help="The server's URL, e.g. https://rmm.example.com")
    enroll.add_argument("--token", required=True, help="An enrollment token (fwe_…) from the server.")
    enroll.add_argument("--force", action="store_true", help="Enroll again, replacing the stored token.")
    enroll.set_defaults(handler=cmd_enroll)
    commands.add_parser("run", help="Connect and report until stopped (Ctrl+C or SIGTERM).").set_defaults(
        handler=cmd_run)
    commands.add_parser("status", help="Show enrollment, token and last contact.").set_defaults(handler=cmd_status)
    commands.add_parser("unenroll", help="Delete the local token and state.").set_defaults(handler=cmd_unenroll)
    commands.add_parser("collect", help="Print one inventory snapshot as JSON.").set_defaults(handler=cmd_collect)
    postpone = commands.add_parser(
        "postpone-reboot", help="Ask the agent to restart later after updates (any logged-in user may).")
    postpone.add_argument("--minutes", type=int, default=60, help="How much later (default 60; the patch policy "
                                                                   "bounds the total).")
    postpone.set_defaults(handler=cmd_postpone_reboot)
    install = commands.add_parser("install-service", help="Install the agent as a system service.")
    install.add_argument("--platform", choices=["linux", "macos", "windows"], help="Default: this machine's.")
    install.add_argument("--print", action="store_true", help="Print the service definition instead.")
    install.set_defaults(handler=cmd_install_service)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = load_config(args.config)
    sys.exit(args.handler(args, config))
