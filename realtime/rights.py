"""Open sockets follow their user's rights: they close when those rights change or lapse.

A socket resolves its actor once, at the handshake. Whatever changes the rights behind it afterwards —
a revoked API token, a deactivated or deleted user, a changed role, company scope or password, a deleted
company — announces ``actor.changed`` to the user's (or token's) group, in whichever process made the
change; every socket of that user or token, in any process, then closes (code 4403). A browser's live
socket reconnects on its own and is authenticated afresh; a revoked token or a disabled user is refused.
A session or token that simply expires closes its sockets at that moment too.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from portal.events.groups import api_token_group, user_group

CLOSE_RIGHTS_CHANGED = 4403


@dataclass(frozen=True)
class Credential:
    """What a socket authenticated with: whose rights it carries, and until when."""

    user_id: int | None
    api_token_id: int | None
    expires_at: datetime | None


class FollowsRights:
    """Mixin for websocket consumers: call ``follow_rights()`` once the socket is accepted, and
    ``stop_following_rights()`` on disconnect."""

    rights_groups: list[str]
    expiry_task: asyncio.Task | None

    async def follow_rights(self) -> None:
        credential: Credential | None = self.scope.get("credential")
        self.rights_groups, self.expiry_task = [], None
        if credential is None:
            return
        if credential.user_id is not None:
            self.rights_groups.append(user_group(credential.user_id))
        if credential.api_token_id is not None:
            self.rights_groups.append(api_token_group(credential.api_token_id))
        for group in self.rights_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        if credential.expires_at is not None:
            self.expiry_task = asyncio.create_task(self._close_at(credential.expires_at))

    async def _close_at(self, moment: datetime) -> None:
        await asyncio.sleep(max(0.0, (moment - timezone.now()).total_seconds()))
        await self.close(code=CLOSE_RIGHTS_CHANGED)

    async def stop_following_rights(self) -> None:
        task = getattr(self, "expiry_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for group in getattr(self, "rights_groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def actor_changed(self, message: dict[str, Any]) -> None:
        await self.close(code=CLOSE_RIGHTS_CHANGED)
