"""``manage.py deploy_config --domain rmm.example.com``: the files a sysadmin installs to run Fleetwatch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.operations.deployment import FILES, DeploymentError, deployment_for, render, write

NEXT_STEPS = """
Install them as root, with Fleetwatch installed in {install_dir} (owned by root) and its venv at {python}:
  useradd --system --home-dir {data_dir} --shell /usr/sbin/nologin {user}
  install -d -m 0700 -o {user} -g {user} {data_dir} {backup_dir}
  install -D -m 0600 {output}/fleetwatch.env {env_file}      # systemd reads it as root
  install -D -m 0600 {output}/fleetwatch-agent.toml {agent_config}
  head -c 32 /dev/urandom | base64 > {passphrase_file}
  chown root:{user} {passphrase_file} && chmod 0640 {passphrase_file}
  cp {output}/fleetwatch-*.service {output}/fleetwatch-backup.timer /etc/systemd/system/
  systemctl daemon-reload
  systemctl enable --now fleetwatch-web fleetwatch-worker fleetwatch-agent fleetwatch-backup.timer
  systemd-run --quiet --pipe --wait --uid={user} --gid={user} -p EnvironmentFile={env_file} \\
      -p WorkingDirectory={install_dir} {python} manage.py create_first_admin    # prints the password once
  systemd-run --quiet --pipe --wait --uid={user} --gid={user} -p EnvironmentFile={env_file} \\
      -p WorkingDirectory={install_dir} {python} manage.py build_agent    # again after each upgrade
Endpoints then install that agent with the one-liners of the Enrollment page.
Then one reverse proxy:
  Caddy:  cp {output}/Caddyfile /etc/caddy/Caddyfile && systemctl reload caddy
  nginx:  cp {output}/nginx-fleetwatch.conf /etc/nginx/sites-available/fleetwatch
          ln -s ../sites-available/fleetwatch /etc/nginx/sites-enabled/ && nginx -t && systemctl reload nginx
Keep a copy of {passphrase_file} away from this server: without it the backups in {backup_dir} cannot be read.
"""


class Command(BaseCommand):
    help = ("Write systemd units (web, task cluster, this server's agent, a daily encrypted backup), the settings "
            "file they read, and a reverse-proxy site for Caddy and for nginx (TLS, websocket upgrade, timeouts for "
            "agents that stay connected for days, the client's real address), then explain how to install them.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--domain", required=True, help="the name technicians and agents reach, e.g. "
                                                            "rmm.example.com")
        parser.add_argument("--output", default="deploy", help="directory to write the files into (default: ./deploy)")
        parser.add_argument("--data-dir", default="/var/lib/fleetwatch", help="FLEETWATCH_DATA_DIR of the service")
        parser.add_argument("--env-file", default="/etc/fleetwatch/fleetwatch.env",
                            help="where the settings file will be installed (the units read it from there)")
        parser.add_argument("--user", default="fleetwatch", help="system user the server runs as")
        parser.add_argument("--port", type=int, default=8000, help="loopback port the proxy forwards to")
        parser.add_argument("--web-processes", type=int, default=os.cpu_count() or 1,
                            help="daphne processes (default: one per core of this machine)")
        parser.add_argument("--certificate", help="nginx: TLS certificate (default: certbot's path for the domain)")
        parser.add_argument("--certificate-key", help="nginx: its private key")
        parser.add_argument("--backup-dir", default="/var/backups/fleetwatch", help="where daily backups go "
                                                                                     "(kept 14 days)")
        parser.add_argument("--force", action="store_true", help="replace files already in the output directory")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            deployment = deployment_for(
                domain=options["domain"], data_dir=options["data_dir"], env_file=options["env_file"],
                user=options["user"], port=options["port"], web_processes=options["web_processes"],
                certificate=options["certificate"], certificate_key=options["certificate_key"],
                backup_dir=options["backup_dir"])
            output = Path(options["output"]).resolve()
            written = write(render(deployment), into=output, overwrite=options["force"])
        except DeploymentError as error:
            raise CommandError(str(error)) from error
        width = max(len(path.name) for path in written)
        self.stdout.write(f"Wrote {len(written)} files for https://{deployment.domain}/ into {output}:")
        for path in written:
            self.stdout.write(f"  {path.name.ljust(width)}  {FILES[path.name][2]}")
        self.stdout.write(NEXT_STEPS.format(output=output, **deployment.__dict__))
