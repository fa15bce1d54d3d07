"""The files ``manage.py deploy_config`` writes: systemd units, the settings file and a reverse-proxy site.

Every value that reaches a unit or a proxy site is checked first: a domain is letters, digits, hyphens and
dots only, a path is absolute with no space, quote or control character. A value that could end a line or
a directive would let whoever chose it write configuration that runs as root.
"""

from __future__ import annotations

import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.template import Context, Engine

TEMPLATES = Path(settings.BASE_DIR) / "templates" / "deploy"
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})+$")
_PATH = re.compile(r"^/[A-Za-z0-9._/+@-]*$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

# file written → (template, mode, what it is for)
FILES = {
    "fleetwatch.env": ("fleetwatch.env", 0o600, "settings every unit reads (install as the env file below)"),
    "fleetwatch-web.service": ("fleetwatch-web.service", 0o644, "daphne, one process per core, migrations first"),
    "fleetwatch-worker.service": ("fleetwatch-worker.service", 0o644, "the django-q2 task cluster"),
    "fleetwatch-agent.service": ("fleetwatch-agent.service", 0o644, "this server's own agent, enrolled on first start"),
    "fleetwatch-agent.toml": ("agent.toml", 0o600, "that agent's settings (install at the agent config path)"),
    "fleetwatch-backup.service": ("fleetwatch-backup.service", 0o644, "an encrypted backup, written while it runs"),
    "fleetwatch-backup.timer": ("fleetwatch-backup.timer", 0o644, "runs the backup daily at 02:30"),
    "Caddyfile": ("Caddyfile", 0o644, "Caddy site: automatic TLS, websockets"),
    "nginx-fleetwatch.conf": ("nginx.conf", 0o644, "nginx site: TLS with your certificate, websockets"),
}


class DeploymentError(ValueError):
    """A value that cannot be written into a unit or a proxy site."""


@dataclass(frozen=True)
class Deployment:
    domain: str
    install_dir: Path
    python: Path
    data_dir: Path
    env_file: Path
    user: str
    port: int
    web_processes: int
    certificate: Path
    certificate_key: Path
    backup_dir: Path
    passphrase_file: Path
    agent_config: Path
    agent_state_dir: Path
    backup_days: int = 14


def checked_domain(domain: str) -> str:
    if len(domain) > 253 or not _DOMAIN.fullmatch(domain):
        raise DeploymentError(f"{domain!r} is not a host name (letters, digits, hyphens and dots, e.g. "
                              "rmm.example.com).")
    return domain.lower()


def checked_path(path: Path | str, *, what: str) -> Path:
    text = str(path)
    if not _PATH.fullmatch(text) or "/../" in text + "/" or len(text) > 400:
        raise DeploymentError(f"The {what} {text!r} must be an absolute path of letters, digits and . _ - + @ / "
                              "(no spaces or quotes).")
    return Path(text)


def deployment_for(*, domain: str, data_dir: str, env_file: str, user: str, port: int, web_processes: int,
                   certificate: str | None, certificate_key: str | None, backup_dir: str,
                   agent_config: str = "/etc/fleetwatch-agent/agent.toml",
                   agent_state_dir: str = "/var/lib/fleetwatch-agent",
                   install_dir: Path | None = None, python: Path | None = None) -> Deployment:
    domain = checked_domain(domain)
    if not _USER.fullmatch(user):
        raise DeploymentError(f"{user!r} is not a system user name.")
    if not 1 <= port <= 65535 or not 1 <= web_processes <= 256:
        raise DeploymentError("The port is 1 to 65535 and the web processes 1 to 256.")
    return Deployment(
        domain=domain,
        install_dir=checked_path(install_dir or settings.BASE_DIR, what="installation directory"),
        python=checked_path(python or Path(sys.executable), what="Python interpreter"),
        data_dir=checked_path(data_dir, what="data directory"),
        env_file=checked_path(env_file, what="settings file"),
        user=user, port=port, web_processes=web_processes,
        certificate=checked_path(certificate or f"/etc/letsencrypt/live/{domain}/fullchain.pem", what="certificate"),
        certificate_key=checked_path(certificate_key or f"/etc/letsencrypt/live/{domain}/privkey.pem",
                                     what="certificate key"),
        backup_dir=checked_path(backup_dir, what="backup directory"),
        passphrase_file=checked_path(Path(env_file).parent / "backup-passphrase", what="passphrase file"),
        agent_config=checked_path(agent_config, what="agent config file"),
        agent_state_dir=checked_path(agent_state_dir, what="agent state directory"),
    )


def render(deployment: Deployment, *, metrics_token: str | None = None) -> dict[str, str]:
    """Every file's text by its name (``FILES``)."""
    engine = Engine(dirs=[str(TEMPLATES)], autoescape=False)
    context = {**deployment.__dict__, "metrics_token": metrics_token or secrets.token_urlsafe(32)}
    return {name: engine.get_template(template).render(Context(context)) for name, (template, _, _) in FILES.items()}


def write(files: dict[str, str], *, into: Path, overwrite: bool) -> list[Path]:
    into.mkdir(parents=True, exist_ok=True)
    existing = [into / name for name in files if (into / name).exists()]
    if existing and not overwrite:
        raise DeploymentError(f"{existing[0]} exists; pass --force to replace the files in {into}.")
    written = []
    for name, text in files.items():
        path = into / name
        path.write_text(text)
        path.chmod(FILES[name][1])
        written.append(path)
    return written
