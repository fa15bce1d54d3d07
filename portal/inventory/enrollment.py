"""Enrollment tokens, enrolling an agent, and checking and revoking agent tokens."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from portal.access import Actor, Role, ensure_visible, require_role, system_actor
from portal.accounts.tokens import digest_secret, format_token, new_token_parts, parse_token
from portal.audit.services import record, snapshot
from portal.events.groups import agent_group
from portal.events.publish import publish, publish_to_group
from portal.inventory.models import AgentCredential, Device, DeviceStatus, EnrollmentToken, OsType
from portal.tenancy.models import Group, Site
from portal.writes import refuse_nul

FACT_LIMITS = {"hostname": 255, "os_version": 255, "agent_version": 32}


class EnrollmentRefused(Exception):
    """The enrollment token cannot be used; the message is safe to show to the agent."""


class AgentTokenRejected(Exception):
    """A presented agent token cannot be used (malformed, unknown, revoked, or its device is gone)."""


@dataclass(frozen=True)
class IssuedEnrollmentToken:
    token: EnrollmentToken
    plaintext: str


@dataclass(frozen=True)
class Enrollment:
    device: Device
    agent_token: str


@transaction.atomic
def create_enrollment_token(*, actor: Actor, site: Site, name: str, group: Group | None = None,
                            expires_at: datetime | None = None, max_uses: int | None = None) -> IssuedEnrollmentToken:
    """Issue an enrollment token for a site (admins); its value is returned once and stored as a digest."""
    require_role(actor, Role.ADMIN)
    ensure_visible(actor=actor, company_id=site.company_id)
    if group is not None and group.site_id != site.pk:
        raise ValidationError({"group": "This group belongs to another site."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    if max_uses is not None and max_uses < 1:
        raise ValidationError({"max_uses": "Allow at least one use, or leave it empty for no limit."})
    if not name.strip():
        raise ValidationError({"name": "Give the token a name (e.g. 'Acme HQ rollout')."})
    parts = new_token_parts()
    token = EnrollmentToken(
        company_id=site.company_id, site=site, group=group, name=name.strip()[:100], key_id=parts.key_id,
        secret_digest=digest_secret(parts.secret), created_by_id=actor.user_id, expires_at=expires_at,
        max_uses=max_uses)
    refuse_nul(token)
    token.save(force_insert=True)
    record(actor=actor, action="enrollmenttoken.created", target=token, company_id=token.company_id,
           after=snapshot(token))
    return IssuedEnrollmentToken(token=token, plaintext=format_token(parts, prefix=EnrollmentToken.PREFIX))


@transaction.atomic
def revoke_enrollment_token(*, actor: Actor, token: EnrollmentToken) -> EnrollmentToken:
    """Stop an enrollment token from enrolling more devices (devices already enrolled stay)."""
    require_role(actor, Role.ADMIN)
    ensure_visible(actor=actor, company_id=token.company_id)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(actor=actor, action="enrollmenttoken.revoked", target=token, company_id=token.company_id,
               after={"revoked_at": token.revoked_at.isoformat()})
    return token


def _clean_facts(facts: dict[str, Any]) -> dict[str, str]:
    if not isinstance(facts, dict):
        raise ValidationError("facts must be an object.")
    hostname = facts.get("hostname")
    if not isinstance(hostname, str) or not hostname.strip():
        raise ValidationError({"hostname": "The agent must report its hostname."})
    os_type = facts.get("os_type") if facts.get("os_type") in OsType.values else OsType.OTHER
    cleaned = {"hostname": hostname.strip(), "os_type": os_type}
    for name in ("os_version", "agent_version"):
        value = facts.get(name, "")
        cleaned[name] = value if isinstance(value, str) else ""
    return {name: value[: FACT_LIMITS.get(name, 255)] for name, value in cleaned.items()}


def enroll_agent(*, enrollment_token: str, facts: dict[str, Any]) -> Enrollment:
    """Exchange an enrollment token and the agent's facts for a new device and its agent token.

    Everything that only reads (the token, the facts, the device's placement) is checked before the
    transaction: on SQLite a write transaction holds the database's one write lock from its start, so a
    roll-out's enrollments queued behind each other's reads. The token's use is still taken atomically at
    the end (a token revoked or used up meanwhile rolls the new device back)."""
    parts = parse_token(enrollment_token, prefix=EnrollmentToken.PREFIX)
    if parts is None:
        raise EnrollmentRefused("The enrollment token is malformed.")
    token = _enrollment_token(key_id=parts.key_id)
    if token is None or not hmac.compare_digest(token.secret_digest, digest_secret(parts.secret)):
        raise EnrollmentRefused("The enrollment token is not valid.")
    if not token.usable:
        raise EnrollmentRefused(_refusal(token_id=token.pk))
    clean = _clean_facts(facts)
    # The placement is the token's, read with it: stand-ins carrying the keys the placement check reads let
    # it run without a look-up (three queries, and the check two more, per enrollment of a roll-out); the
    # database still enforces the keys.
    device = Device(company_id=token.company_id, site=Site(pk=token.site_id, company_id=token.site_company_id),
                    group=Group(pk=token.group_id, site_id=token.group_site_id) if token.group_id else None,
                    hostname=clean["hostname"], os_type=clean["os_type"], os_version=clean["os_version"],
                    agent_version=clean["agent_version"], status=DeviceStatus.UNKNOWN,
                    heartbeat_interval=settings.FLEETWATCH_HEARTBEAT_SECONDS)
    device.full_clean(exclude=["company", "site", "group"])
    for stand_in in ("site", "group"):  # the keys stay; a caller reading device.site gets the real row
        Device._meta.get_field(stand_in).delete_cached_value(device)
    with transaction.atomic():
        device.save()
        agent_token = _new_agent_token(device=device)
        actor = system_actor(f"enrollment {parts.key_id}")
        record(actor=actor, action="device.enrolled", target=device, company_id=device.company_id,
               after=snapshot(device) | {"enrollment_token": parts.key_id})
        publish("device.created", company_id=device.company_id, id=device.pk)
        _take_one_use(token_id=token.pk)
    return Enrollment(device=device, agent_token=agent_token)


@dataclass(frozen=True)
class _TokenToEnroll:
    """What an enrollment reads of its token: the digest, the placement (with the keys the placement check
    compares) and whether the token could be used when read."""

    pk: int
    company_id: int
    site_id: int
    site_company_id: int
    group_id: int | None
    group_site_id: int | None
    secret_digest: str
    usable: bool


def _usable_condition(*, table: str) -> str:
    """SQL true while a token of ``table`` (an alias or a quoted name) can enroll one more device; one
    parameter: now. The same rule as ``EnrollmentToken.state``."""
    return (f"{table}.revoked_at IS NULL AND ({table}.expires_at IS NULL OR {table}.expires_at > %s) "
            f"AND ({table}.max_uses IS NULL OR {table}.use_count < {table}.max_uses)")


def _enrollment_token(*, key_id: str) -> _TokenToEnroll | None:
    """The token, its placement and whether it can be used, in one statement. A roll-out runs this thousands
    of times a minute, and the ORM's compilation of the same query (three models, an ordering) was a fifth
    of an enrollment's CPU."""
    quote = connection.ops.quote_name
    sql = (  # Table names come from the models, quoted; every value is a bound parameter.
        f"SELECT token.id, token.company_id, token.site_id, site.company_id, token.group_id, grp.site_id, "  # noqa: S608
        f"token.secret_digest, CASE WHEN {_usable_condition(table='token')} THEN 1 ELSE 0 END "
        f"FROM {quote(EnrollmentToken._meta.db_table)} token "
        f"JOIN {quote(Site._meta.db_table)} site ON site.id = token.site_id "
        f"LEFT JOIN {quote(Group._meta.db_table)} grp ON grp.id = token.group_id WHERE token.key_id = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(timezone.now()), key_id])
        row = cursor.fetchone()
    if row is None:
        return None
    pk, company_id, site_id, site_company_id, group_id, group_site_id, secret_digest, usable = row
    return _TokenToEnroll(pk=pk, company_id=company_id, site_id=site_id, site_company_id=site_company_id,
                          group_id=group_id, group_site_id=group_site_id, secret_digest=secret_digest,
                          usable=bool(usable))


def _take_one_use(*, token_id: int) -> None:
    """Count the use last, in one conditional UPDATE: the token's row is locked only from here to the commit
    (a roll-out's enrollments on one token no longer wait on each other's whole transaction), and two that
    race for a token's last use cannot both have it (the loser's device and credential are rolled back).
    Written as SQL for the reason of ``_enrollment_token``."""
    table = connection.ops.quote_name(EnrollmentToken._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(  # the table name comes from the model, quoted; every value is a bound parameter
            f"UPDATE {table} SET use_count = use_count + 1 WHERE id = %s AND {_usable_condition(table=table)}",  # noqa: S608
            [token_id, connection.ops.adapt_datetimefield_value(timezone.now())])
        taken = cursor.rowcount
    if not taken:
        raise EnrollmentRefused(_refusal(token_id=token_id))


def _refusal(*, token_id: int) -> str:
    """Why a token cannot enroll (it was revoked, expired or used up), as the agent is told."""
    token = EnrollmentToken.objects.filter(pk=token_id).first()
    return f"The enrollment token is {token.state}." if token is not None else "The enrollment token is not valid."


def issue_agent_token(*, device: Device) -> str:
    """A new agent token for a device; earlier tokens of the device are revoked."""
    AgentCredential.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=timezone.now())
    return _new_agent_token(device=device)


def _new_agent_token(*, device: Device) -> str:
    """A token for a device that holds none yet (a device just enrolled)."""
    parts = new_token_parts()
    AgentCredential.objects.create(device=device, key_id=parts.key_id, secret_digest=digest_secret(parts.secret))
    return format_token(parts, prefix=AgentCredential.PREFIX)


def authenticate_agent(*, raw: str, touch: Callable[[int], None] | None = None) -> Device:
    """The device behind a presented agent token; tracks the token's last use (at most once a minute).

    ``touch`` takes the credential's id to write its last use later, in a batch (the agent socket's
    connect path writes nothing of its own); without it the use is written at once."""
    parts = parse_token(raw, prefix=AgentCredential.PREFIX)
    if parts is None:
        raise AgentTokenRejected("The agent token is malformed.")
    credential = AgentCredential.objects.select_related("device").filter(key_id=parts.key_id).first()
    if credential is None or not hmac.compare_digest(credential.secret_digest, digest_secret(parts.secret)):
        raise AgentTokenRejected("The agent token is not valid.")
    if credential.revoked_at is not None:
        raise AgentTokenRejected("The agent token has been revoked; enroll the agent again.")
    now = timezone.now()
    if credential.last_used_at is None or credential.last_used_at < now - timedelta(minutes=1):
        if touch is not None:
            touch(credential.pk)
        else:
            AgentCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
    return credential.device


@dataclass(frozen=True)
class AgentIdentity:
    device_id: int
    heartbeat_interval: int


def authenticate_agents(*, raws: list[str], touch: Callable[[int], None]) -> dict[str, AgentIdentity]:
    """``authenticate_agent`` for many presented tokens in one query (the agent sockets' handshakes of the
    last moment): the device behind each valid, unrevoked token; the others are left out. Last uses go to
    ``touch``, as above."""
    presented = {raw: parts for raw in raws if (parts := parse_token(raw, prefix=AgentCredential.PREFIX))}
    rows = {key_id: row for key_id, *row in AgentCredential.objects.filter(
        key_id__in=sorted({parts.key_id for parts in presented.values()})).values_list(
        "key_id", "pk", "secret_digest", "revoked_at", "last_used_at", "device_id", "device__heartbeat_interval")}
    stale_before = timezone.now() - timedelta(minutes=1)
    identities: dict[str, AgentIdentity] = {}
    for raw, parts in presented.items():
        row = rows.get(parts.key_id)
        if row is None:
            continue
        credential_id, secret_digest, revoked_at, last_used_at, device_id, heartbeat_interval = row
        if revoked_at is not None or not hmac.compare_digest(secret_digest, digest_secret(parts.secret)):
            continue
        if last_used_at is None or last_used_at < stale_before:
            touch(credential_id)
        identities[raw] = AgentIdentity(device_id=device_id, heartbeat_interval=heartbeat_interval)
    return identities


@transaction.atomic
def revoke_agent_tokens(*, actor: Actor, device: Device) -> int:
    """Revoke the device's agent tokens: its socket closes within seconds and reconnects are refused."""
    require_role(actor, Role.OPERATOR)
    ensure_visible(actor=actor, company_id=device.company_id)
    revoked = AgentCredential.objects.filter(device=device, revoked_at__isnull=True).update(revoked_at=timezone.now())
    record(actor=actor, action="device.agent_revoked", target=device, company_id=device.company_id,
           after={"revoked_tokens": revoked})
    disconnect_agent(device_id=device.pk)
    return revoked


def disconnect_agent(*, device_id: int) -> None:
    """Tell whichever server process holds the device's socket to close it (after commit)."""
    publish_to_group(agent_group(device_id), {"type": "agent.disconnect", "reason": "revoked"})
