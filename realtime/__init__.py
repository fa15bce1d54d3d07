"""Realtime: channel groups, event publishing, and (with later capabilities) the consumers."""

from realtime.publish import publish

__all__ = ["publish"]
