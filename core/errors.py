"""Errors the caller can fix.

Every package raises `UserError` (or a subclass) for bad input; the server turns it into
an MCP tool error whose text reaches the agent. The message must say what went wrong and
what to do about it.
"""


class UserError(ValueError):
    """Bad input or a state the caller can change; the message says how."""


class NotFound(UserError):
    """A named thing (job, experiment, node, layer) does not exist."""


def no_space(exc: BaseException) -> bool:
    """Whether `exc` says a disk is full (ENOSPC, EDQUOT, or SQLite's SQLITE_FULL)."""
    import errno
    import sqlite3
    if isinstance(exc, sqlite3.Error):
        return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF == sqlite3.SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
