"""Events: how every floor announces what changed (``publish.publish``), the channel group names, which
device pages are watched, and — embedded — the event table each server process relays to its sockets.

The lowest floor beside the domain core: services publish here; the sockets, GraphQL subscriptions and
the agent channel listen on the groups named here."""
