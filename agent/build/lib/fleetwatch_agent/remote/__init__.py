"""Remote sessions on this endpoint: a live terminal and file access, each opened by an envelope the server
signed with the key this agent pinned, and recorded by the server."""
