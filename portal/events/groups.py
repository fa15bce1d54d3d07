"""The only place channel group names are built (Channels allows [a-zA-Z0-9._-], fewer than 100 chars)."""

from __future__ import annotations


def company_group(company_id: int) -> str:
    """Everything that happens in one company: dashboards and subscriptions of actors who may see it."""
    return f"company.{int(company_id)}"


def agent_group(device_id: int) -> str:
    """The one agent socket of a device: actions, cancellations, configuration and revocation go here."""
    return f"agent.{int(device_id)}"


def device_watch_group(device_id: int) -> str:
    """The open pages of one device: its heartbeats extend their charts (nobody else is sent them)."""
    return f"device.{int(device_id)}.watch"


def msp_group() -> str:
    """Administrators who see every company: what belongs to the MSP itself (connector syncs, schedules)."""
    return "msp.admins"


def user_group(user_id: int) -> str:
    """Every open socket of one user: they close when the user's rights change (realtime/rights.py)."""
    return f"user.{int(user_id)}"


def api_token_group(token_id: int) -> str:
    """Every open socket authenticated with one API token: they close when it is revoked."""
    return f"apitoken.{int(token_id)}"
