"""The agent channel: the agent socket and its protocol, the websocket authentication every socket passes,
and how daphne is run. (Events themselves are published through ``portal.events``.)"""
