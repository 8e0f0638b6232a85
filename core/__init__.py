"""Shared base of every rigorlab package: user-facing errors and the state database.

Nothing here imports MCP, torch or any other heavy dependency.
"""
from rigorlab.core.errors import UserError

__all__ = ["UserError"]
