"""The workspace's navigation: a few named sections, each page in one, shown only when the user may open it,
with the section and page of the current request marked.

Sections are plain data here (the dashboard is the door that draws them); a page belongs to the section whose
entry's path the request's path starts with (the longest wins: ``/patches/compliance/`` is Compliance, not
Patches)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from portal.access import Actor, Role, is_msp_admin


@dataclass(frozen=True)
class Entry:
    label: str
    url_name: str
    args: tuple = ()
    allowed: Callable[[Actor], bool] = lambda actor: True

    def url(self) -> str:
        return reverse(self.url_name, args=self.args)


def _resource(label: str, slug: str, allowed: Callable[[Actor], bool] = lambda actor: True) -> Entry:
    return Entry(label, "resource-list", (slug,), allowed)


def _operators(actor: Actor) -> bool:
    return actor.has_role(Role.OPERATOR)


def _admins(actor: Actor) -> bool:
    return actor.has_role(Role.ADMIN)


SECTIONS: tuple[tuple[str, tuple[Entry, ...]], ...] = (
    ("Fleet", (Entry("Overview", "home"), _resource("Devices", "devices"), _resource("Companies", "companies"),
               _resource("Sites", "sites"), _resource("Groups", "groups"), _resource("Contacts", "contacts"),
               _resource("Dynamic groups", "dynamic-groups"), _resource("Tags", "tags"),
               Entry("Enrollment", "enrollment-tokens", allowed=_admins))),
    ("Monitoring", (_resource("Alerts", "alerts"), _resource("Checks", "checks"), _resource("Network", "network"),
                    _resource("Cameras", "cameras"), _resource("Maintenance", "maintenance"))),
    ("Automation", (_resource("Actions", "actions"), Entry("Run an action", "action-new", allowed=_operators),
                    _resource("Remote sessions", "remote-sessions"),
                    Entry("Patches", "patch-catalogue"), Entry("Approvals", "patch-approvals"),
                    Entry("Compliance", "patch-compliance"), _resource("Policies", "policies"),
                    _resource("Scripts", "scripts"), _resource("Profiles", "profiles"),
                    _resource("Software", "software"), _resource("Schedules", "schedules"))),
    ("Integrations", (_resource("Connectors", "connectors", is_msp_admin), Entry("API tokens", "api-tokens"),
                      Entry("GraphQL", "graphql"))),
    ("Administration", (Entry("Users", "users", allowed=_admins), _resource("Audit log", "audit"),
                        Entry("Scheduler", "scheduler", allowed=is_msp_admin),
                        Entry("System", "system-status", allowed=is_msp_admin),
                        Entry("Agent updates", "agent-updates", allowed=is_msp_admin),
                        Entry("Your settings", "account"))),
)


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    current: bool


@dataclass(frozen=True)
class Section:
    label: str
    links: list[Link]

    @property
    def current(self) -> bool:
        return any(link.current for link in self.links)


def sections_for(*, actor: Actor, path: str) -> list[Section]:
    """The sections the actor may open, their links, and which link the page at ``path`` belongs to."""
    built: list[Section] = []
    for label, entries in SECTIONS:
        links = []
        for entry in entries:
            if not entry.allowed(actor):
                continue
            try:
                links.append((entry.label, entry.url()))
            except NoReverseMatch:  # a page not installed in this deployment
                continue
        if links:
            built.append(Section(label, [Link(name, url, False) for name, url in links]))
    best = max((link.url for section in built for link in section.links
                if path == link.url or (link.url != "/" and path.startswith(link.url))), key=len, default=None)
    return [Section(section.label, [Link(link.label, link.url, link.url == best) for link in section.links])
            for section in built]
